"""Bounded generation slots per provider: a few replies run at once, a few more wait, the rest
are refused with RESOURCE_EXHAUSTED at once instead of piling up in an unbounded queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from voka import errors


class Slots:
    """`concurrency` replies at once, `queue` more waiting for one."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self.concurrency = concurrency
        self._queue = queue
        self._free = asyncio.Semaphore(concurrency)
        self.in_flight = 0
        self.queued = 0

    @asynccontextmanager
    async def hold(self, provider: str) -> AsyncIterator[float]:
        """Hold a slot for one reply; yields the seconds spent waiting for it."""
        if self._free.locked() and self.queued >= self._queue:
            raise errors.resource_exhausted(
                f"model provider {provider!r} is busy ({self.in_flight} replies running, "
                f"{self.queued} waiting); retry later",
                retry_after=timedelta(seconds=2),
            )
        began = time.monotonic()
        self.queued += 1
        try:
            await self._free.acquire()
        finally:
            self.queued -= 1
        self.in_flight += 1
        try:
            yield time.monotonic() - began
        finally:
            self.in_flight -= 1
            self._free.release()


class Load:
    """Slots of every provider, made on first use."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._concurrency, self._queue = concurrency, queue
        self._slots: dict[str, Slots] = {}

    def of(self, provider: str) -> Slots:
        if provider not in self._slots:
            self._slots[provider] = Slots(self._concurrency, self._queue)
        return self._slots[provider]

    @property
    def active(self) -> int:
        return sum(slots.in_flight for slots in self._slots.values())
