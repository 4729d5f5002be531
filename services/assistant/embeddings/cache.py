"""A bounded LRU of embeddings, so a text embedded again (a repeated query, a passage indexed
twice) costs a dictionary look-up instead of an engine call.

Keyed by (model, purpose, SHA-256 of the text): the purpose is part of the key because e5 gives
the same text different vectors as a query and as a passage, and the hash keeps the texts
themselves out of memory. The bound is in entries; an entry of a 384-dimension model is about
1.7 KiB (the float32 row, its key and the dictionary slot), so the default 10 000 entries hold
about 17 MiB."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from services.assistant.embeddings.engine import Purpose

Key = tuple[str, str, bytes]


@dataclass(frozen=True)
class Cached:
    """One text's vector and token count."""

    vector: npt.NDArray[np.float32]
    tokens: int


def key_of(model: str, purpose: Purpose, text: str) -> Key:
    return model, purpose.value, hashlib.sha256(text.encode()).digest()


class VectorCache:
    """Least recently used entries go first once `entries` are held; 0 keeps nothing."""

    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._held: OrderedDict[Key, Cached] = OrderedDict()

    def __len__(self) -> int:
        return len(self._held)

    def get(self, key: Key) -> Cached | None:
        found = self._held.get(key)
        if found is not None:
            self._held.move_to_end(key)
        return found

    def drop(self, key: Key) -> None:
        """Forget one entry (a deleted memory's vector must not outlive it)."""
        self._held.pop(key, None)

    def put(self, key: Key, value: Cached) -> None:
        if self._entries == 0:
            return
        self._held[key] = value
        self._held.move_to_end(key)
        while len(self._held) > self._entries:
            self._held.popitem(last=False)
