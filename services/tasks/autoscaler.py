"""The autoscaler: how many workers each bounded pool wants, from its demand and utilisation.

**Rule** (`desired_workers`, pure), per pool, every heartbeat interval:

    by_demand = ceil(demand / (concurrency * TARGET))      demand: tasks QUEUED or RUNNING
    by_load   = ceil(workers * utilisation / TARGET)       utilisation over the last beats
    wanted    = max(by_demand, by_load)
    wanted    = max(wanted, previous - 1)                  down one worker per round at most
    desired   = clamp(wanted, min_workers, max_workers)

TARGET is 0.8: a pool is sized to be 80 % busy. Demand counts the tasks handed out too (they
may wait in JetStream for a free slot), and utilisation catches steady streams of short tasks
that a snapshot of the queue misses. Up is at once, down gradual, so a burst does not flap.

Every replica runs a round (it refreshes the pool gauges); only the replica serving shard 0
decides, writes the new size (a conditional UPDATE: an operator's resize in between wins) and
publishes a PoolResizedEvent when it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from services.tasks import metrics
from services.tasks.bounds import WORKER_TYPES, announce
from services.tasks.pool_store import PoolBounds, PoolStore
from services.tasks.pools import LivePools, PoolFigures, pool_message
from services.tasks.records import WorkerType
from services.tasks.scheduler import Scheduler
from voka.bus import Bus
from voka.tasks.v1 import events_pb2

log = logging.getLogger("voka.tasks.autoscaler")
TARGET = 0.8
LEADER_SHARD = 0


@dataclass(frozen=True)
class Load:
    """What a pool faces now."""

    demand: int  # tasks queued or handed out
    workers: int  # live workers
    concurrency: int  # slots per worker
    utilisation: float  # 0 to 1, over the last beat interval


def desired_workers(load: Load, bounds: PoolBounds) -> int:
    """The rule above; `bounds.desired_workers` is the previous answer."""
    by_demand = math.ceil(load.demand / (max(1, load.concurrency) * TARGET))
    by_load = math.ceil(round(load.workers * load.utilisation / TARGET, 6))  # 4.000…1 is 4
    wanted = max(by_demand, by_load, bounds.desired_workers - 1)
    return bounds.clamp(wanted)


class Autoscaler:
    """The round above, every `interval` seconds."""

    def __init__(
        self,
        store: PoolStore,
        live: LivePools,
        scheduler: Scheduler,
        bus: Bus,
        interval: float,
    ) -> None:
        self._store = store
        self._live = live
        self._scheduler = scheduler
        self._bus = bus
        self._interval = interval
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="tasks-autoscaler")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.round()
            except Exception:
                log.exception("autoscaler round failed; retrying next round")

    async def round(self) -> None:
        bounded = await self._store.bounds()
        for worker_type in WORKER_TYPES:
            _gauge(worker_type, self._live.figures(worker_type), bounded.get(worker_type))
        if LEADER_SHARD not in self._scheduler.epochs or not bounded:
            return
        demand = await self._store.demand()
        default = self._scheduler.settings.tasks_worker_concurrency
        for bounds in bounded.values():
            figures = self._live.figures(bounds.worker_type)
            load = Load(demand[bounds.worker_type], figures.workers,
                        figures.concurrency or default, figures.utilisation)  # fmt: skip
            await self._apply(bounds, desired_workers(load, bounds))

    async def _apply(self, bounds: PoolBounds, desired: int) -> None:
        if desired == bounds.desired_workers:
            return
        if await self._store.set_desired(bounds, desired, datetime.now(UTC)):
            log.info("pool %d: %d → %d workers", bounds.worker_type, bounds.desired_workers,
                     desired)  # fmt: skip
            resized = replace(bounds, desired_workers=desired)
            await announce(self._bus, resized, events_pb2.POOL_RESIZE_CAUSE_AUTOSCALER)


def _gauge(worker_type: WorkerType, figures: PoolFigures, bounds: PoolBounds | None) -> None:
    """Prometheus: the pool as GetSchedulerStatus shows it (each replica reports every pool)."""
    label = metrics.worker_label(worker_type)
    pool = pool_message(worker_type, figures, bounds, paused=False)
    values = {
        metrics.POOL_WORKERS: pool.current_workers, metrics.POOL_BUSY: pool.busy,
        metrics.POOL_CAPACITY: figures.capacity, metrics.POOL_UTILISATION: figures.utilisation,
        metrics.POOL_DESIRED: pool.desired_workers, metrics.POOL_MIN: pool.min_workers,
        metrics.POOL_MAX: pool.max_workers,
    }  # fmt: skip
    for gauge, value in values.items():
        gauge.labels(label).set(value)
