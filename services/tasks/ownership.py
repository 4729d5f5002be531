"""This replica's share of the shards, kept through the leases (`lease_store.py`).

Every `lease_seconds / 3` the replica: beats its heartbeat; renews the leases it holds (one it
could not renew was taken over and is dropped at once); counts the live replicas (heartbeat
within `lease_seconds`, not draining) and wants `ceil(shards / live)` shards; gives back what
it holds beyond that and takes free or expired shards up to it. So a dead replica's shards go
to the others within about `lease_seconds` plus one round, a new replica gets its share from
the others within two rounds, and a lone replica serves every shard from its first round.
The scheduler serves what is held: `acquire` rebuilds a shard from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from datetime import UTC, datetime

from services.tasks.lease_store import LeaseStore, later
from services.tasks.scheduler import Scheduler

log = logging.getLogger("voka.tasks.ownership")
FORGET_AFTER = 10  # lease periods of silence before a replica's heartbeat row is dropped


def _now() -> datetime:
    return datetime.now(UTC)


class Ownership:
    """The lease loop of one replica."""

    def __init__(self, leases: LeaseStore, scheduler: Scheduler) -> None:
        self._leases = leases
        self._scheduler = scheduler
        settings = scheduler.settings
        self._shards = settings.tasks_shards
        self._ttl = settings.tasks_lease_seconds
        self._loop: asyncio.Task[None] | None = None
        self._start = _now()
        self.draining = False

    async def start(self) -> None:
        """Create missing lease rows and take this replica's share before serving, so a lone
        replica owns every free shard when its first request arrives (pauses applied first)."""
        await self._leases.prepare(self._shards)
        self._scheduler.apply_pauses(*await self._leases.pauses())
        await self.balance()
        self._loop = asyncio.create_task(self._run(), name="tasks-ownership")

    async def stop(self) -> None:
        """Hand every shard back at once (a clean stop must not make the others wait for
        the leases to expire)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        await self._give_back(list(self._scheduler.epochs))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self.balance()
                await self._scheduler.resync()
            except Exception:
                log.exception("lease round failed; retrying")

    async def balance(self) -> None:
        """One round: heartbeat, renew, then give back or take to reach the fair share."""
        now = _now()
        replica = self._scheduler.replica
        self.draining = await self._leases.heartbeat(replica, self._start, now)
        held = dict(self._scheduler.epochs)
        kept = await self._leases.renew(replica, held, later(now, self._ttl), now)
        for shard in set(held) - kept:
            log.warning("lease of shard %d was lost; no longer serving it", shard)
            await self._scheduler.release(shard)
        live = [r for r in await self._leases.live(later(now, -self._ttl)) if not r.draining]
        want = 0 if self.draining else math.ceil(self._shards / max(1, len(live)))
        mine = sorted(self._scheduler.epochs)
        if len(mine) > want:
            await self._give_back(mine[want:])
        elif len(mine) < want:
            await self._take(want - len(mine), now)
        await self._leases.forget_replicas(later(now, -FORGET_AFTER * self._ttl))
        self._scheduler.apply_pauses(*await self._leases.pauses())

    async def _take(self, count: int, now: datetime) -> None:
        others = [s for s in range(self._shards) if s not in self._scheduler.epochs]
        random.shuffle(others)  # replicas starting together try different shards first
        replica = self._scheduler.replica
        taken = await self._leases.acquire(replica, others, count, later(now, self._ttl), now)
        for shard, epoch in sorted(taken.items()):
            log.info("serving shard %d (epoch %d)", shard, epoch)
            await self._scheduler.acquire(shard, epoch)

    async def _give_back(self, shards: list[int]) -> None:
        epochs = {s: self._scheduler.epochs[s] for s in shards if s in self._scheduler.epochs}
        for shard in epochs:
            await self._scheduler.release(shard)  # stop serving first, then free the lease
        await self._leases.release(self._scheduler.replica, epochs)
