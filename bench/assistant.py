"""Assistant latency: the local model called directly vs. through the service's layers.

    PYTHONPATH=.:gen .venv/bin/python -m bench.assistant [--runs 5] [--max-tokens 64]

Same GGUF (the embedded SmolLM2 unless `--model` names another), the same messages (the
service's system prompt and a question of fixed length, new on every call so that no call finds
its prompt already evaluated), greedy sampling, in one run, the paths taking turns so machine
noise spreads over all of them:

* direct: `llama_cpp.Llama.create_chat_completion(stream=True)` in a plain loop;
* chat loop: the service's LocalProvider (generation thread, token hand-over queue) under its
  ChatLoop, as every reply runs;
* gRPC: the whole service in process (its own NATS, SQLite, a JWKS file and a minted token),
  `StreamCompleteChat` and `StreamReply` on one channel: auth, validation, prompt building,
  storage (StreamReply) and protobuf streaming included.

Time to first token (TTFT) is from the call to the first text; tokens/s is the decode rate
after it, (tokens - 1) / (last - first). Medians over `--runs`, after one discarded warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from services.assistant import prompt
from services.assistant.chat_loop import ChatLoop
from services.assistant.hemisphere import Balance
from services.assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    Sampling,
    TokenDelta,
)
from services.assistant.providers.local import LocalProvider
from services.assistant.providers.registry import ProviderRegistry
from services.assistant.service import SPEC
from services.assistant.settings import (
    AssistantSettings,
    ModelEntry,
    ProviderEntry,
    embedded_provider,
)
from services.assistant.tools import ToolBox
from tests.fixtures.tokens import TokenFactory
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.gguf import load_llama
from voka.server import start

PROMPT = "List the numbers from {start} to {end}, separated by commas."
FIRST = 101  # three-digit starts: every question is the same number of tokens


@dataclass(frozen=True)
class PromptTokens:
    """Reported by a path once its reply is done, to show every path read the same prompt."""

    count: int


# One path asked one question: the pieces of text as they arrive, then its prompt size (the
# clock starts at the call).
Stream = Callable[[str], AsyncIterator[str | PromptTokens]]


def questions() -> Iterator[str]:
    """A new question for every call, so no call finds its prompt in llama.cpp's prefix cache
    (a copy keeps the last prompt's evaluation); the shared system prompt stays cached for all."""
    for first in itertools.count(FIRST):
        yield PROMPT.format(start=first, end=first + 99)


def messages(question: str) -> tuple[ChatMessage, ...]:
    """The service's own system prompt (default balance, no context) and the user's message."""
    technical = AssistantSettings(service="assistant").assistant_default_technical
    system = prompt.system_text(Balance(technical, round(1 - technical, 6)), "", {})
    return (ChatMessage("system", system), ChatMessage("user", question))


@dataclass
class Run:
    ttft: float
    tokens: int
    decode: float  # seconds from the first piece to the last
    prompt_tokens: int

    @property
    def rate(self) -> float:
        return (self.tokens - 1) / self.decode if self.decode > 0 else 0.0


async def timed(stream: Stream, question: str) -> Run:
    started = time.perf_counter()
    first = last = 0.0
    tokens = prompt_tokens = 0
    async for piece in stream(question):
        if isinstance(piece, PromptTokens):
            prompt_tokens = piece.count
            continue
        last = time.perf_counter()
        first = first or last
        tokens += 1
    return Run(first - started, tokens, last - first, prompt_tokens)


def direct(entry: ProviderEntry, max_tokens: int) -> Stream:
    """llama-cpp-python in a plain loop (on a thread, so the event loop's clock stays honest)."""
    assert entry.model_path is not None
    llm = load_llama(entry.model_path, context_size=entry.context_size)

    async def stream(question: str) -> AsyncIterator[str | PromptTokens]:
        wire: list[Any] = [{"role": m.role, "content": m.content} for m in messages(question)]
        queue: asyncio.Queue[str | PromptTokens] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        def generate() -> None:
            chunks: Iterator[dict[str, Any]] = llm.create_chat_completion(  # type: ignore[assignment]
                wire, stream=True, max_tokens=max_tokens, temperature=0.0
            )
            prompt_tokens = 0
            for chunk in chunks:
                prompt_tokens = prompt_tokens or llm.n_tokens  # the prompt is evaluated by now
                text = chunk["choices"][0]["delta"].get("content")
                if text:
                    loop.call_soon_threadsafe(queue.put_nowait, text)
            loop.call_soon_threadsafe(queue.put_nowait, PromptTokens(prompt_tokens))

        work = loop.run_in_executor(None, generate)
        while isinstance(piece := await queue.get(), str):
            yield piece
        yield piece
        await work

    return stream


def through_loop(entry: ProviderEntry, max_tokens: int) -> Stream:
    chat = ChatLoop(
        ProviderRegistry([LocalProvider(entry)]), ToolBox(()), tool_timeout=1, max_tool_rounds=0
    )
    model = entry.models[0].id

    async def stream(question: str) -> AsyncIterator[str | PromptTokens]:
        request = ChatRequest(model, messages(question), Sampling(max_tokens, 0.0))
        async for event in chat.run(request, allowed_tools=()):
            if isinstance(event, TokenDelta):
                yield event.text
            elif isinstance(event, Finished):
                yield PromptTokens(event.prompt_tokens)

    return stream


def through_grpc(
    channel: grpc.aio.Channel, tokens: TokenFactory, max_tokens: int
) -> dict[str, Stream]:
    stub = assistant_pb2_grpc.AssistantServiceStub(channel)
    metadata = tokens.metadata(subject="users/bench", ttl=3600)
    sampling = assistant_pb2.SamplingOptions(temperature=0.0, max_output_tokens=max_tokens)

    async def complete_chat(question: str) -> AsyncIterator[str | PromptTokens]:
        user = assistant_pb2.ChatMessage(role=assistant_pb2.MESSAGE_ROLE_USER, content=question)
        request = assistant_pb2.StreamCompleteChatRequest(messages=[user], sampling=sampling)
        async for piece in pieces(stub.StreamCompleteChat(request, metadata=metadata)):
            yield piece

    async def reply(question: str) -> AsyncIterator[str | PromptTokens]:
        request = assistant_pb2.StreamReplyRequest(message=question, sampling=sampling)
        async for piece in pieces(stub.StreamReply(request, metadata=metadata)):
            yield piece

    return {"gRPC StreamCompleteChat": complete_chat, "gRPC StreamReply": reply}


async def pieces(
    responses: AsyncIterable[
        assistant_pb2.StreamReplyResponse | assistant_pb2.StreamCompleteChatResponse
    ],
) -> AsyncIterator[str | PromptTokens]:
    """A reply stream's text deltas, then the prompt size from its `completed` event."""
    async for response in responses:
        event = response.WhichOneof("event")
        if event == "delta":
            yield response.delta.text
        elif event == "completed":
            yield PromptTokens(response.completed.usage.input_tokens)
        elif event == "error":
            raise RuntimeError(f"reply failed: {response.error.message}")


async def measure(paths: dict[str, Stream], runs: int) -> dict[str, list[Run]]:
    results: dict[str, list[Run]] = {name: [] for name in paths}
    asked = questions()
    for stream in paths.values():
        await timed(stream, next(asked))  # warm-up: model load, template compile, first connection
    for _ in range(runs):
        for name, stream in paths.items():
            results[name].append(await timed(stream, next(asked)))
    return results


def report(results: dict[str, list[Run]]) -> None:
    base_ttft = base_rate = 0.0
    header = ("path", "runs", "prompt", "tokens", "TTFT ms", "tok/s", "TTFT vs", "tok/s vs")
    print("{:<26} {:>4} {:>6} {:>6} {:>8} {:>7} {:>8} {:>8}".format(*header))
    for name, runs in results.items():
        ttft = statistics.median(r.ttft for r in runs) * 1000
        rate = statistics.median(r.rate for r in runs)
        tokens = statistics.median(r.tokens for r in runs)
        prompt_tokens = statistics.median(r.prompt_tokens for r in runs)
        base_ttft, base_rate = base_ttft or ttft, base_rate or rate
        print(
            f"{name:<26} {len(runs):>4} {prompt_tokens:>6.0f} {tokens:>6.0f}"
            f" {ttft:>8.1f} {rate:>7.1f}"
            f" {ttft / base_ttft:>7.2f}x {rate / base_rate:>7.2f}x"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--model", type=Path, help="a GGUF file; default: the embedded SmolLM2")
    parser.add_argument("--no-grpc", action="store_true", help="skip the service paths")
    args = parser.parse_args()
    entry = embedded_provider()
    if args.model:
        entry = entry.model_copy(
            update={"model_path": args.model, "models": (ModelEntry(id=args.model.stem),)}
        )
    question = PROMPT.format(start=FIRST, end=FIRST + 99)
    print(f"model {entry.model_path}\nprompt {question!r} (a new start each call), greedy,")
    print(f"max {args.max_tokens} tokens\n")
    paths = {
        "llama-cpp-python direct": direct(entry, args.max_tokens),
        "ChatLoop + LocalProvider": through_loop(entry, args.max_tokens),
    }
    if args.no_grpc:
        report(await measure(paths, args.runs))
        return
    with tempfile.TemporaryDirectory(prefix="bench-assistant-") as tmp:
        await with_service(Path(tmp), entry, args, paths)


async def with_service(
    work: Path, entry: ProviderEntry, args: argparse.Namespace, paths: dict[str, Stream]
) -> None:
    tokens = TokenFactory.in_directory(work)
    nats = NatsServer(work / "nats")
    nats.start()
    try:
        settings = AssistantSettings(
            service="assistant",
            port=0,
            metrics_port=0,
            data_dir=work / "data",
            jwks_file=tokens.jwks_file,
            nats_url=nats.url,
            log_level="WARNING",
            assistant_providers=(entry,),
        )
        running = await start(SPEC, settings)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                paths |= through_grpc(channel, tokens, args.max_tokens)
                report(await measure(paths, args.runs))
        finally:
            await running.stop()
    finally:
        nats.stop()


if __name__ == "__main__":
    asyncio.run(main())
