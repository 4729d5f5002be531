"""MarianMT through Hugging Face transformers: one opus-mt directory per pair under the models
directory (`<models_dir>/es-en/`: config.json, model weights, source.spm, target.spm,
vocab.json). Real Helsinki-NLP models and the tests' tiny models load through this same code.

Models load lazily and live in the shared LRU (`neural.py`, `cache.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.translate.engines.base import EngineError
from services.translate.engines.cache import Loaded
from services.translate.engines.neural import NeuralEngine
from voka.translate.v1 import translate_pb2

MAX_INPUT_TOKENS = 512


@dataclass(frozen=True)
class Marian:
    model: Any  # transformers.MarianMTModel
    tokenizer: Any  # transformers.MarianTokenizer


class MarianEngine(NeuralEngine[Marian]):
    """Loads models from `models_dir/<source>-<target>/` and translates batches with them."""

    MARKER = "config.json"

    def __init__(self, models_dir: Path, memory_budget: int, device: str | None = None) -> None:
        super().__init__(models_dir, memory_budget)
        self._device = device

    @property
    def kind(self) -> int:
        return translate_pb2.ENGINE_MARIAN

    def _load(self, path: Path) -> Loaded[Marian]:
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

    def _run(self, model: Marian, texts: list[str]) -> list[str]:
        return _generate(model, texts)

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
