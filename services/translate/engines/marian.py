"""MarianMT through Hugging Face transformers: one opus-mt directory per pair under the models
directory (`<models_dir>/es-en/`: config.json, model weights, source.spm, target.spm,
vocab.json). Real Helsinki-NLP models and the tests' tiny models load through this same code.

Models load lazily on first use, stay in an LRU bounded by a memory budget, and unload when
idle, so a machine with many pairs installed only holds the ones in use.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.translate.engines.base import EngineError, ModelMissingError
from voka.translate.v1 import translate_pb2

HUB_PREFIX = "Helsinki-NLP/opus-mt-"
MAX_INPUT_TOKENS = 512


def hub_model(source: str, target: str) -> str:
    return f"{HUB_PREFIX}{source}-{target}"


@dataclass
class _Loaded:
    model: Any  # transformers.MarianMTModel
    tokenizer: Any  # transformers.MarianTokenizer
    size: int  # bytes of parameters
    used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MarianEngine:
    """Loads models from `models_dir/<source>-<target>/` and translates batches with them."""

    def __init__(self, models_dir: Path, memory_budget: int, device: str | None = None) -> None:
        self._dir = models_dir
        self._budget = memory_budget
        self._device = device
        self._loaded: OrderedDict[tuple[str, str], _Loaded] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def kind(self) -> int:
        return translate_pb2.ENGINE_MARIAN

    def path(self, source: str, target: str) -> Path:
        return self._dir / f"{source}-{target}"

    def installed(self, source: str, target: str) -> bool:
        return (self.path(source, target) / "config.json").is_file()

    def loaded(self, source: str, target: str) -> bool:
        return (source, target) in self._loaded

    def model_id(self, source: str, target: str) -> str:
        return hub_model(source, target)

    def translate(self, source: str, target: str, texts: Sequence[str]) -> list[str]:
        entry = self._get(source, target)
        with entry.lock:  # one generate per model at a time; batches are the parallelism
            return _generate(entry, list(texts))

    def unload_idle(self, idle_seconds: float) -> list[tuple[str, str]]:
        """Unload models unused for `idle_seconds`; returns the pairs unloaded."""
        now = time.monotonic()
        with self._lock:
            idle = [pair for pair, e in self._loaded.items() if now - e.used > idle_seconds]
            for pair in idle:
                del self._loaded[pair]
        return idle

    def _get(self, source: str, target: str) -> _Loaded:
        with self._lock:
            entry = self._loaded.get((source, target))
            if entry is None:
                entry = self._load(source, target)
                self._loaded[(source, target)] = entry
                self._evict(keep=(source, target))
            self._loaded.move_to_end((source, target))
            entry.used = time.monotonic()
            return entry

    def _load(self, source: str, target: str) -> _Loaded:
        path = self.path(source, target)
        if not self.installed(source, target):
            raise ModelMissingError(source, target)
        # transformers and torch cost seconds and hundreds of MB: a service serving Apertium
        # only never imports them.
        from transformers import MarianMTModel, MarianTokenizer  # noqa: PLC0415

        try:
            tokenizer = MarianTokenizer.from_pretrained(str(path))
            model: Any = MarianMTModel.from_pretrained(str(path))
            model = model.to(self._pick_device()).eval()
        except (OSError, ValueError) as exc:
            raise EngineError(f"cannot load the Marian model in {path}: {exc}") from exc
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        return _Loaded(model=model, tokenizer=tokenizer, size=int(size))

    def _evict(self, keep: tuple[str, str]) -> None:
        """Drop least recently used models until the loaded ones fit the budget (the one just
        loaded always stays, even alone over budget)."""
        while sum(e.size for e in self._loaded.values()) > self._budget:
            victim = next((p for p in self._loaded if p != keep), None)
            if victim is None:
                return
            del self._loaded[victim]

    def _pick_device(self) -> str:
        if self._device is None:
            import torch  # noqa: PLC0415 (see _load)

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device


def _generate(entry: _Loaded, texts: list[str]) -> list[str]:
    import torch  # noqa: PLC0415 (see MarianEngine._load)

    batch = entry.tokenizer(
        texts, return_tensors="pt", padding=True, truncation=True, max_length=MAX_INPUT_TOKENS
    ).to(entry.model.device)
    # A translation is rarely over twice its source's length; the cap stops a model that never
    # emits end-of-sentence from running to the model's maximum.
    limit = min(MAX_INPUT_TOKENS, 2 * int(batch["input_ids"].shape[1]) + 8)
    with torch.inference_mode():
        output = entry.model.generate(**batch, max_new_tokens=limit)
    return [str(t) for t in entry.tokenizer.batch_decode(output, skip_special_tokens=True)]
