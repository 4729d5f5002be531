"""MarianMT through Hugging Face transformers: one opus-mt directory per pair under the models
directory (`<models_dir>/es-en/`: config.json, model weights, source.spm, target.spm,
vocab.json). Real Helsinki-NLP models and the tests' tiny models load through this same code.

Models load lazily and live in the shared LRU (`cache.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.translate.engines.base import EngineError, ModelMissingError
from services.translate.engines.cache import Loaded, LoadedModels, Pair
from voka.translate.v1 import translate_pb2

HUB_PREFIX = "Helsinki-NLP/opus-mt-"
MAX_INPUT_TOKENS = 512


def hub_model(source: str, target: str) -> str:
    return f"{HUB_PREFIX}{source}-{target}"


@dataclass(frozen=True)
class Marian:
    model: Any  # transformers.MarianMTModel
    tokenizer: Any  # transformers.MarianTokenizer


class MarianEngine:
    """Loads models from `models_dir/<source>-<target>/` and translates batches with them."""

    def __init__(self, models_dir: Path, memory_budget: int, device: str | None = None) -> None:
        self._dir = models_dir
        self._device = device
        self._models = LoadedModels(self._load, memory_budget)

    @property
    def kind(self) -> int:
        return translate_pb2.ENGINE_MARIAN

    def path(self, source: str, target: str) -> Path:
        return self._dir / f"{source}-{target}"

    def installed(self, source: str, target: str) -> bool:
        return (self.path(source, target) / "config.json").is_file()

    def loaded(self, source: str, target: str) -> bool:
        return (source, target) in self._models

    def model_id(self, source: str, target: str) -> str:
        return hub_model(source, target)

    def translate(self, source: str, target: str, texts: Sequence[str]) -> list[str]:
        entry = self._models.get((source, target))
        with entry.lock:
            return _generate(entry.model, list(texts))

    def unload_idle(self, idle_seconds: float) -> list[Pair]:
        return self._models.unload_idle(idle_seconds)

    def _load(self, pair: Pair) -> Loaded[Marian]:
        path = self.path(*pair)
        if not self.installed(*pair):
            raise ModelMissingError(*pair)
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
        return Loaded(Marian(model, tokenizer), size=int(size))

    def _pick_device(self) -> str:
        if self._device is None:
            import torch  # noqa: PLC0415 (see _load)

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device


def _generate(entry: Marian, texts: list[str]) -> list[str]:
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
