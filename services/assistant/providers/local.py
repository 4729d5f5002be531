"""A GGUF model in this process through llama-cpp-python (by default the packaged SmolLM2).

A Llama object is not re-entrant, so each loaded copy serves one generation at a time: copies
wait in a pool, generation runs on a thread of its own and hands tokens to the event loop
through a queue, and closing the stream sets a flag the thread checks between tokens. Copies are
loaded once, on first use or `warm()`, and kept.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

import llama_cpp

from services.assistant.providers.base import (
    ChatRequest,
    Finished,
    ModelInfo,
    ProviderEvent,
    ProviderHealth,
    ProviderRejected,
    ProviderUnavailable,
    TokenDelta,
)
from services.assistant.settings import ProviderEntry
from voka.gguf import load_llama

# What the generation thread hands to the event loop: an event, or the error that ended it.
_Item = ProviderEvent | ProviderUnavailable


class LocalProvider:
    """Chat completions from a GGUF file; tools are not offered (small models misuse them)."""

    def __init__(self, entry: ProviderEntry) -> None:
        self.name = entry.name
        self._entry = entry
        self._pool: asyncio.Queue[llama_cpp.Llama] = asyncio.Queue()
        self._loaded = 0
        self._load_lock = asyncio.Lock()
        self._vocab_lock = threading.Lock()
        self._vocab: llama_cpp.Llama | None = None
        self._executor = ThreadPoolExecutor(entry.instances, thread_name_prefix=f"llm-{self.name}")
        self._error = ""

    def models(self) -> list[ModelInfo]:
        return [m.info(self.name, supports_tools=False) for m in self._entry.models]

    async def warm(self) -> None:
        """Load every copy now rather than on the first request."""
        async with self._load_lock:
            while self._loaded < self._entry.instances:
                llm = await asyncio.get_running_loop().run_in_executor(self._executor, self._load)
                self._loaded += 1
                self._pool.put_nowait(llm)

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        llm = await self._acquire()
        loop = asyncio.get_running_loop()
        handoff: asyncio.Queue[_Item] = asyncio.Queue()
        stop = threading.Event()

        def send(item: _Item) -> None:
            loop.call_soon_threadsafe(handoff.put_nowait, item)

        work = loop.run_in_executor(self._executor, self._generate, llm, request, send, stop)
        try:
            while True:
                item = await handoff.get()
                if isinstance(item, ProviderUnavailable):
                    raise item
                yield item
                if isinstance(item, Finished):
                    return
        finally:
            stop.set()
            work.add_done_callback(lambda _: self._pool.put_nowait(llm))

    async def health(self) -> ProviderHealth:
        """Healthy while the model file is there and loads; there is no breaker in-process."""
        path = self._entry.model_path
        if path is None or not path.is_file():
            return ProviderHealth(self.name, False, "closed", f"model file missing: {path}")
        if self._error:
            return ProviderHealth(self.name, False, "closed", self._error)
        loaded = f"{path.name}: {self._loaded} of {self._entry.instances} copies loaded"
        return ProviderHealth(self.name, True, "closed", loaded)

    def count_tokens(self, text: str) -> int:
        """Exact, with the model's own tokenizer (loaded vocabulary-only, once)."""
        with self._vocab_lock:
            if self._vocab is None:
                self._vocab = self._open(vocab_only=True)
            return len(self._vocab.tokenize(text.encode(), add_bos=False, special=False))

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _acquire(self) -> llama_cpp.Llama:
        if self._loaded < self._entry.instances:
            await self.warm()
        return await self._pool.get()

    def _load(self) -> llama_cpp.Llama:
        try:
            return self._open(vocab_only=False)
        except (OSError, ValueError) as exc:
            self._error = f"cannot load {self._entry.model_path}: {exc}"
            raise ProviderUnavailable(self.name, self._error) from exc

    def _open(self, *, vocab_only: bool) -> llama_cpp.Llama:
        path = self._entry.model_path
        if path is None or not path.is_file():
            raise ProviderUnavailable(self.name, f"model file missing: {path}")
        entry = self._entry
        return load_llama(
            path,
            context_size=entry.context_size,
            threads=entry.threads,
            extra_buffers=entry.extra_buffers,
            vocab_only=vocab_only,
        )

    def _generate(
        self,
        llm: llama_cpp.Llama,
        request: ChatRequest,
        send: Callable[[_Item], None],
        stop: threading.Event,
    ) -> None:
        """On the generation thread: stream tokens out until done or told to stop."""
        try:
            chunks = cast(
                "Generator[dict[str, Any], None, None]",
                llm.create_chat_completion(**_arguments(request)),
            )
            prompt_tokens, completion_tokens, reason = 0, 0, "stop"
            for chunk in chunks:
                if stop.is_set():
                    chunks.close()
                    return
                prompt_tokens = prompt_tokens or llm.n_tokens
                choice = chunk["choices"][0]
                if choice["delta"].get("content"):
                    completion_tokens += 1
                    send(TokenDelta(choice["delta"]["content"]))
                reason = choice.get("finish_reason") or reason
            send(Finished(reason, prompt_tokens, completion_tokens))
        except ValueError as exc:  # llama-cpp-python's "prompt exceeds the context window"
            send(ProviderRejected(self.name, str(exc)))
        except Exception as exc:
            send(ProviderUnavailable(self.name, f"generation failed: {exc}"))


def _arguments(request: ChatRequest) -> dict[str, Any]:
    sampling = request.sampling
    return {
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "stream": True,
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "stop": list(sampling.stop) or None,
    }
