"""A local instruction-following language model as a translation engine: a GGUF through
llama.cpp (`make up`'s Qwen2.5 1.5B; the tests' SmolLM2), prompted once per sentence.

It serves every pair of the catalogue when its model file is there, so routing picks it by
default only where no other engine has the pair (catalogue.PREFERENCE puts it last) and
otherwise on request. It is more fluent than Apertium but slower (about a second a sentence on
two threads) and may change numbers, so the translator checks its numbers (numbers.py).

The model loads on first use and stays. A llama.cpp model is not re-entrant: one lock makes
its batches run one at a time (the batcher's bounded queue in front of it holds the rest),
always on the translate executor's threads, never the event loop.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from services.translate.catalogue import LANGUAGES
from services.translate.engines.base import EngineError, ModelMissingError
from voka.translate.v1 import translate_pb2

if TYPE_CHECKING:
    import llama_cpp

PROMPT = (
    "You translate {source} text into {target}. Reply with the {target} translation of the "
    "user's text and nothing else: no notes, no quotes, no explanation. Keep every number, "
    "name and date exactly as it is."
)
# Tokens a sentence's translation may take: generous for the length, bounded for a runaway.
TOKENS_PER_CHARACTER = 0.6
MIN_TOKENS = 32
_QUOTES = "\"'\u201c\u201d\u00ab\u00bb\u2018\u2019"  # straight, curly and angle quotes


class LlmEngine:
    """Translates with the GGUF at `path`; not installed when there is none (or no llama.cpp)."""

    def __init__(self, path: Path | None, threads: int = 2, context_size: int = 2048) -> None:
        self._path = path
        self._threads = threads
        self._context_size = context_size
        self._lock = threading.Lock()
        self._llm: llama_cpp.Llama | None = None
        # An image without llama.cpp (translate's own) has the engine, never installed.
        self._runtime = importlib.util.find_spec("llama_cpp") is not None

    @property
    def kind(self) -> int:
        return translate_pb2.ENGINE_LLM

    def installed(self, source: str, target: str) -> bool:
        return (
            self._path is not None
            and self._path.is_file()
            and source in LANGUAGES
            and target in LANGUAGES
            and self._runtime
        )

    def loaded(self, source: str, target: str) -> bool:
        return self._llm is not None and self.installed(source, target)

    def model_id(self, source: str, target: str) -> str:
        return self._path.stem if self._path is not None else "llm"

    def translate(self, source: str, target: str, texts: Sequence[str]) -> list[str]:
        if not self.installed(source, target):
            raise ModelMissingError(source, target)
        system = PROMPT.format(source=LANGUAGES[source][0], target=LANGUAGES[target][0])
        with self._lock:
            llm = self._model()
            return [self._one(llm, system, text) for text in texts]

    def _model(self) -> llama_cpp.Llama:
        """The loaded model, loading it the first time (under the lock)."""
        if self._llm is None:
            from voka.gguf import load_llama  # noqa: PLC0415 (llama.cpp only when configured)

            assert self._path is not None  # installed() was checked
            try:
                self._llm = load_llama(
                    self._path, context_size=self._context_size, threads=self._threads
                )
            except (OSError, ValueError) as exc:
                raise EngineError(f"cannot load {self._path}: {exc}") from exc
        return self._llm

    def _one(self, llm: llama_cpp.Llama, system: str, text: str) -> str:
        if not text.strip():
            return text
        try:
            answer = cast(
                "dict[str, Any]",
                llm.create_chat_completion(
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": text},
                    ],
                    temperature=0.0,
                    stop=["\n"],  # one line in, one line out: no notes after it
                    max_tokens=max(MIN_TOKENS, int(len(text) * TOKENS_PER_CHARACTER)),
                ),
            )
        except ValueError as exc:  # llama-cpp-python's "prompt exceeds the context window"
            raise EngineError(f"{self.model_id('', '')}: {exc}") from exc
        return cleaned(answer["choices"][0]["message"]["content"] or "")


def cleaned(answer: str) -> str:
    """The translation out of a model's answer: its first non-empty line, without the quotes
    small models like to wrap it in (segments are single lines)."""
    lines = [line.strip() for line in answer.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if len(first) > 1 and first[0] in _QUOTES and first[-1] in _QUOTES:
        first = first[1:-1].strip()
    return first
