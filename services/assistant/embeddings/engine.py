"""What an embedding engine is: a model that turns texts into unit-length vectors, with the
purpose (query or passage) that asymmetric retrieval models such as e5 are trained with.

Engines block (C code, all cores): only the batcher calls them, on the engine's own thread, one
call at a time, so an engine needs no locking of its own. Another engine (all-MiniLM-L6-v2, a
remote OpenAI-compatible API) plugs in by satisfying `EmbeddingEngine`."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Vectors = npt.NDArray[np.float32]  # (texts, dimensions), each row of unit length


class Purpose(enum.Enum):
    """What a vector is for. e5 prefixes the text with "query: " or "passage: "; a symmetric
    model ignores the difference."""

    QUERY = "query"
    PASSAGE = "passage"

    @property
    def prefix(self) -> str:
        """e5's prefix for this purpose."""
        return f"{self.value}: "


@dataclass(frozen=True)
class Embedded:
    """An engine call's result: one row and one token count per text, in order."""

    vectors: Vectors
    tokens: list[int]


class EmbeddingEngine(Protocol):
    """A loaded embedding model."""

    @property
    def model(self) -> str:
        """The id callers name it by."""

    @property
    def dimensions(self) -> int:
        """The length of its vectors."""

    def embed(self, texts: Sequence[str], purpose: Purpose) -> Embedded:
        """Vectors of `texts` (given without a prefix) for `purpose`; blocks until done."""


def own_prefix(text: str, purpose: Purpose) -> tuple[str, Purpose]:
    """The text without an e5 prefix the caller wrote, and the purpose that prefix chose; a
    text without one keeps the requested purpose. Callers used to e5 write the prefix
    themselves: taken as their choice, it is not added a second time."""
    for written in Purpose:
        if text.startswith(written.prefix):
            return text.removeprefix(written.prefix), written
    return text, purpose
