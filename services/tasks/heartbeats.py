"""Worker heartbeats: every visibility/3 a worker says, per worker type it serves, which
attempts it runs, how busy it was since its previous beat, and whether it is draining.

The replicas use a beat to keep the listed attempts from being declared lost (`pools.py`,
`Scheduler.extend`) and to know each pool's live workers; the beats travel on core NATS
(`Bus.emit`), so every replica hears every worker. A lost beat costs nothing: the next one
follows a third of the visibility timeout later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.tasks.events import type_token
from services.tasks.records import WorkerType
from voka import wellknown
from voka.bus import Bus
from voka.tasks.v1 import events_pb2

log = logging.getLogger("voka.tasks.heartbeats")
Status = Callable[[WorkerType], events_pb2.WorkerStatusReportedEvent]


@dataclass
class _Slots:
    """Attempts of one worker type running now, and the attempt-seconds since a reading."""

    since: float  # start of the current reading period
    mark: float  # last time `area` was brought up to date
    busy: int = 0
    area: float = 0.0
    completed: int = 0


class BusyMeter:
    """Utilisation per worker type between two beats: the time-integral of the attempts
    running divided by the slots available, so a burst of short attempts between two beats
    counts (a snapshot at beat time would miss it)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._slots: dict[WorkerType, _Slots] = {}

    def begin(self, worker_type: WorkerType) -> None:
        self._advance(worker_type).busy += 1

    def end(self, worker_type: WorkerType) -> None:
        slots = self._advance(worker_type)
        slots.busy -= 1
        slots.completed += 1

    def completed(self, worker_type: WorkerType) -> int:
        return self._advance(worker_type).completed

    def read(self, worker_type: WorkerType, capacity: int) -> float:
        """Share of `capacity` busy since the previous reading (0 to 1); starts a new period."""
        slots = self._advance(worker_type)
        elapsed = slots.mark - slots.since
        share = slots.area / (capacity * elapsed) if capacity > 0 and elapsed > 0 else 0.0
        slots.since, slots.area = slots.mark, 0.0
        return min(1.0, max(0.0, share))

    def _advance(self, worker_type: WorkerType) -> _Slots:
        now = self._clock()
        slots = self._slots.setdefault(worker_type, _Slots(since=now, mark=now))
        slots.area += slots.busy * (now - slots.mark)
        slots.mark = now
        return slots


@dataclass(frozen=True)
class Identity:
    """Who beats: the worker's name, host, process and start, and its slots."""

    name: str
    host: str
    pid: int
    concurrency: int
    start_time: datetime


def status_event(
    who: Identity,
    worker_type: WorkerType,
    running: Iterable[events_pb2.InFlightAttempt],
    meter: BusyMeter,
    draining: bool,
) -> events_pb2.WorkerStatusReportedEvent:
    """One beat for one worker type (reading the meter starts its next period)."""
    return events_pb2.WorkerStatusReportedEvent(
        worker=who.name, worker_type=worker_type, host=who.host, pid=who.pid,
        concurrency=who.concurrency, in_flight=list(running), draining=draining,
        completed_total=meter.completed(worker_type),
        utilisation=meter.read(worker_type, who.concurrency),
        start_time=wellknown.timestamp(who.start_time),
    )  # fmt: skip


class Heartbeat:
    """Publishes `status(t)` for each worker type every `interval` seconds until stopped."""

    def __init__(
        self, bus: Bus, status: Status, worker_types: Sequence[WorkerType], interval: float
    ) -> None:
        self._bus = bus
        self._status = status
        self._types = list(worker_types)
        self._interval = interval
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="tasks-heartbeat")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop

    async def beat(self) -> None:
        """One beat per worker type now (also called when the worker starts draining)."""
        for worker_type in self._types:
            try:
                await self._bus.emit(self._status(worker_type), suffix=type_token(worker_type))
            except Exception as exc:  # NATS away: the next beat tries again
                log.warning("heartbeat not sent: %s", exc)

    async def _run(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self._interval)
