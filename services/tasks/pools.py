"""The live workers of each pool, from their heartbeats: what GetSchedulerStatus and
GetTaskMetrics report and what the autoscaler reads.

Every replica hears every beat (core NATS, no shared consumer), so each one answers for all
pools. A beat also keeps the attempts it lists from being declared lost for another
`LOST_AFTER` visibility timeouts (`Scheduler.extend`: only the shards' owner tracks them). A
worker silent for one visibility timeout is gone; a draining one still counts as busy but
no longer as a worker or capacity.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg

from services.tasks.pool_store import PoolBounds, PoolStore
from services.tasks.records import WorkerType
from services.tasks.scheduler import Scheduler
from voka.bus import Bus, Listener, subject_of
from voka.tasks.v1 import events_pb2, tasks_pb2

# Visibility timeouts after a dead worker's last beat before its attempt is retried: the
# first lets JetStream hand the dispatch to another worker (same attempt), the second lets
# that worker's beats list it.
LOST_AFTER = 2.0
Beat = events_pb2.WorkerStatusReportedEvent


@dataclass(frozen=True)
class PoolFigures:
    """One pool as its workers' latest beats describe it."""

    workers: int  # live and not draining
    capacity: int  # their slots
    busy: int  # attempts running, draining workers' included
    utilisation: float  # share of the slots busy over the workers' last beat interval
    concurrency: int  # slots per worker (the largest reported; 0 without workers)


class LivePools:
    """The latest beat of every live worker, per (worker, worker type)."""

    def __init__(
        self,
        bus: Bus,
        scheduler: Scheduler,
        visibility: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bus = bus
        self._scheduler = scheduler
        self._visibility = visibility
        self._clock = clock
        self._beats: dict[tuple[str, WorkerType], tuple[Beat, float]] = {}
        self._beat_listener: Listener | None = None

    async def start(self) -> None:
        self._beat_listener = await self._bus.listen(f"{subject_of(Beat)}.*", self._on_beat)

    async def stop(self) -> None:
        if self._beat_listener is not None:
            await self._beat_listener.stop()

    async def _on_beat(self, msg: Msg) -> None:
        with contextlib.suppress(DecodeError):
            self.heard(Beat.FromString(msg.data))

    def heard(self, beat: Beat) -> None:
        self._beats[(beat.worker, beat.worker_type)] = (beat, self._clock())
        self._scheduler.extend(beat.in_flight, LOST_AFTER * self._visibility, beat.worker)

    def staffed(self, worker_type: WorkerType) -> bool:
        """Whether a live worker that is not draining serves this pool."""
        return any(not beat.draining for beat in self.live(worker_type))

    def live(self, worker_type: WorkerType) -> list[Beat]:
        """The latest beat of each worker of this type heard within the visibility timeout."""
        since = self._clock() - self._visibility
        for key in [k for k, (_, at) in self._beats.items() if at < since]:
            del self._beats[key]
        return [beat for beat, _ in self._beats.values() if beat.worker_type == worker_type]

    def figures(self, worker_type: WorkerType) -> PoolFigures:
        beats = self.live(worker_type)
        serving = [b for b in beats if not b.draining]
        capacity = sum(b.concurrency for b in serving)
        used = sum(b.utilisation * b.concurrency for b in serving)
        return PoolFigures(
            workers=len(serving), capacity=capacity, busy=sum(len(b.in_flight) for b in beats),
            utilisation=used / capacity if capacity else 0.0,
            concurrency=max((b.concurrency for b in serving), default=0),
        )  # fmt: skip


def pool_message(
    worker_type: WorkerType,
    figures: PoolFigures,
    bounds: PoolBounds | None,
    paused: bool,
    demand: int = 0,
) -> tasks_pb2.Pool:
    """GetSchedulerStatus's pool; one without bounds is what runs (min = max = desired),
    except that a pool with tasks waiting (`demand`) and no worker wants one: desired 1,
    current 0 is how the status shows that its tasks wait for a worker nobody runs."""
    live = figures.workers
    wanted = live or int(demand > 0)
    return tasks_pb2.Pool(
        worker_type=worker_type,
        min_workers=bounds.min_workers if bounds else live,
        max_workers=bounds.max_workers if bounds else live,
        desired_workers=bounds.desired_workers if bounds else wanted,
        current_workers=live, concurrency_per_worker=figures.concurrency,
        busy=figures.busy, paused=paused,
    )  # fmt: skip


def utilisation_message(
    worker_type: WorkerType, figures: PoolFigures, queued: int
) -> tasks_pb2.PoolUtilisation:
    """GetTaskMetrics's pool: utilisation over the last beat interval, not the window."""
    return tasks_pb2.PoolUtilisation(
        worker_type=worker_type, workers=figures.workers, capacity=figures.capacity,
        busy=figures.busy, utilisation=figures.utilisation, queued=queued,
    )  # fmt: skip


@dataclass(frozen=True)
class Pools:
    """What pool figures and ResizePool need: the live workers, the stored bounds, the bus."""

    live: LivePools
    store: PoolStore
    bus: Bus
