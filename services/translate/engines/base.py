"""The one interface every translation engine implements, so routing, batching and caching
never care whether a leg is neural or rule-based."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class EngineError(Exception):
    """An engine ran but failed (a crashed or timed-out program, a corrupt model)."""


class ModelMissingError(Exception):
    """The engine has no model for the pair: the caller gets FAILED_PRECONDITION."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"no model installed for {source}-{target}")
        self.source, self.target = source, target


class Engine(Protocol):
    """A translation engine. `translate` blocks (inference or a subprocess): callers run it in
    an executor, one batch at a time per model."""

    @property
    def kind(self) -> int:
        """The contract's `Engine` value."""
        ...

    def installed(self, source: str, target: str) -> bool:
        """Whether the pair can be translated now."""
        ...

    def loaded(self, source: str, target: str) -> bool:
        """Whether the pair's model is in memory now."""
        ...

    def model_id(self, source: str, target: str) -> str:
        """The model or program reported for the pair."""
        ...

    def translate(self, source: str, target: str, texts: Sequence[str]) -> list[str]:
        """Translate single-line texts, one output per input, in order."""
        ...
