"""What the engines holding models in memory share: one model directory per pair, the LRU of
loaded models (`cache.py`), and one batch per model at a time (batches are the parallelism)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from services.translate.engines.base import ModelMissingError
from services.translate.engines.cache import Loaded, LoadedModels, Pair

HUB_PREFIX = "Helsinki-NLP/opus-mt-"
M = TypeVar("M")


def hub_model(source: str, target: str) -> str:
    return f"{HUB_PREFIX}{source}-{target}"


class NeuralEngine(ABC, Generic[M]):
    """Models under `root/<source>-<target>/`, installed when `MARKER` is there."""

    MARKER: ClassVar[str]

    def __init__(self, root: Path, memory_budget: int) -> None:
        self._dir = root
        self._models = LoadedModels(self._checked_load, memory_budget)

    @property
    @abstractmethod
    def kind(self) -> int:
        """The contract's `Engine` value."""

    def path(self, source: str, target: str) -> Path:
        return self._dir / f"{source}-{target}"

    def installed(self, source: str, target: str) -> bool:
        return (self.path(source, target) / self.MARKER).is_file()

    def loaded(self, source: str, target: str) -> bool:
        return (source, target) in self._models

    def model_id(self, source: str, target: str) -> str:
        return hub_model(source, target)

    def translate(self, source: str, target: str, texts: Sequence[str]) -> list[str]:
        entry = self._models.get((source, target))
        with entry.lock:
            return self._run(entry.model, list(texts))

    def unload_idle(self, idle_seconds: float) -> list[Pair]:
        return self._models.unload_idle(idle_seconds)

    def _checked_load(self, pair: Pair) -> Loaded[M]:
        if not self.installed(*pair):
            raise ModelMissingError(*pair)
        return self._load(self.path(*pair))

    @abstractmethod
    def _load(self, path: Path) -> Loaded[M]:
        """Load the model in `path` (installed)."""

    @abstractmethod
    def _run(self, model: M, texts: list[str]) -> list[str]:
        """Translate one batch with a loaded model."""
