"""Figures read from the database, kept for the calls that ask again shortly after: status RPCs
that consoles and probes poll would otherwise read the database on every call.

A kept read answers a call while all of these hold: no write of this process finished since
the read began (`generation`, a count the writers bump: `Commits` counts an engine's), it is
younger than `max_age`, and it did not fail. So a caller sees its own change at once, and
another process's change within `max_age`. Calls that arrive while a read is under way share
it (one read for a burst), and a caller that gives up does not cancel it for the others.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True)
class _Read(Generic[T]):
    generation: int
    started: float  # time.monotonic() when the read began: its age counts from there
    result: asyncio.Future[T]

    def answers(self, generation: int, clock: float, max_age: float) -> bool:
        done = self.result.done()
        failed = done and (self.result.cancelled() or self.result.exception() is not None)
        return generation == self.generation and clock - self.started < max_age and not failed


class Kept(Generic[T]):
    """One figure: `await get(generation, read)` answers from the last read while it may."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._last: _Read[T] | None = None

    async def get(self, generation: int, read: Callable[[], Awaitable[T]]) -> T:
        last, clock = self._last, time.monotonic()
        if last is None or not last.answers(generation, clock, self.max_age):
            last = self._last = _Read(generation, clock, asyncio.ensure_future(read()))
        return await asyncio.shield(last.result)


class KeptPerKey(Generic[K, T]):
    """A `Kept` figure per key (a caller's), the `capacity` most recently asked at most."""

    def __init__(self, max_age: float, capacity: int) -> None:
        self.max_age = max_age
        self.capacity = capacity
        self._kept: OrderedDict[K, Kept[T]] = OrderedDict()

    async def get(self, key: K, generation: int, read: Callable[[], Awaitable[T]]) -> T:
        kept = self._kept.get(key)
        if kept is None:
            kept = self._kept[key] = Kept(self.max_age)
            if len(self._kept) > self.capacity:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        return await kept.get(generation, read)


class Commits:
    """How many transactions have committed through `engine` in this process (`count`), bumped
    once the connection is handed back after its commit: a read that begins after a writer
    went on with its work sees the write (the commit event itself comes before the commit)."""

    _WROTE = "voka.snapshots.wrote"

    def __init__(self, engine: AsyncEngine) -> None:
        self.count = 0
        sync = engine.sync_engine
        event.listen(sync, "commit", self._committing)
        event.listen(sync.pool, "checkin", self._checked_in)

    def _committing(self, connection: Any) -> None:
        connection.info[self._WROTE] = True

    def _checked_in(self, dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(self._WROTE, False):
            self.count += 1
