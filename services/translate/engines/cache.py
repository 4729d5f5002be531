"""The loaded-model cache both neural engines share: lazy loads, an LRU bounded by a memory
budget, and unloading of idle models, so a machine with many pairs installed only holds the ones
in use."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Pair = tuple[str, str]
M = TypeVar("M")


@dataclass
class Loaded(Generic[M]):
    """One loaded model; `lock` serialises its use (batches are the parallelism)."""

    model: M
    size: int  # bytes it holds
    used: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)


class LoadedModels(Generic[M]):
    """Pairs' loaded models, least recently used first."""

    def __init__(self, load: Callable[[Pair], Loaded[M]], memory_budget: int) -> None:
        self._load = load
        self._budget = memory_budget
        self._loaded: OrderedDict[Pair, Loaded[M]] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, pair: Pair) -> bool:
        return pair in self._loaded

    def get(self, pair: Pair) -> Loaded[M]:
        with self._lock:
            entry = self._loaded.get(pair)
            if entry is None:
                entry = self._load(pair)
                self._loaded[pair] = entry
                self._evict(keep=pair)
            self._loaded.move_to_end(pair)
            entry.used = time.monotonic()
            return entry

    def unload_idle(self, idle_seconds: float) -> list[Pair]:
        """Unload models unused for `idle_seconds`; returns the pairs unloaded."""
        now = time.monotonic()
        with self._lock:
            idle = [pair for pair, e in self._loaded.items() if now - e.used > idle_seconds]
            for pair in idle:
                del self._loaded[pair]
        return idle

    def _evict(self, keep: Pair) -> None:
        """Drop least recently used models until the loaded ones fit the budget (the one just
        loaded always stays, even alone over budget)."""
        while sum(e.size for e in self._loaded.values()) > self._budget:
            victim = next((p for p in self._loaded if p != keep), None)
            if victim is None:
                return
            del self._loaded[victim]
