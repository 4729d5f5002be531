"""The database's part of GetSchedulerStatus (shard leases, live replicas, pool bounds, queued
demand), kept between calls instead of read four times per call (`voka.snapshots`).

A status asked again shortly after is answered from the last read while it is younger than
`MAX_AGE` and no write of this replica finished since it began (`Transactions.generation`:
a pause, a resize, a submit, a lease round), so a caller sees its own change at once, as
before, and another replica's change within `MAX_AGE`. One snapshot is kept: a row per shard,
the live replicas and a row per worker type.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.tasks.lease_store import Lease, LeaseStore, Replica
from services.tasks.pool_store import PoolBounds, PoolStore
from services.tasks.records import WorkerType
from voka.snapshots import Kept
from voka.transactions import Transactions

MAX_AGE = 1.0  # seconds a snapshot answers for, at most


@dataclass(frozen=True)
class StoredStatus:
    """One read of the stored figures; `replicas` are those whose heartbeat was newer than
    `MAX_AGE` more than a lease term before the read (`live` narrows them when it is used)."""

    leases: list[Lease]
    replicas: list[Replica]
    bounds: dict[WorkerType, PoolBounds]
    demand: Counter[WorkerType]

    def live(self, since: datetime) -> list[Replica]:
        """Replicas whose heartbeat is newer than `since`, by id."""
        return sorted((r for r in self.replicas if r.heartbeat_time > since), key=lambda r: r.id)


class StatusReads:
    """`await get(now)`: the stored figures, from a read at most `MAX_AGE` old that no write
    of this process has overtaken."""

    def __init__(
        self, transactions: Transactions, leases: LeaseStore, pools: PoolStore, lease_seconds: float
    ) -> None:
        self._transactions = transactions
        self._leases = leases
        self._pools = pools
        self._lease_seconds = lease_seconds
        self._kept: Kept[StoredStatus] = Kept(MAX_AGE)

    async def get(self, now: datetime) -> StoredStatus:
        return await self._kept.get(self._transactions.generation, lambda: self._read(now))

    async def _read(self, now: datetime) -> StoredStatus:
        since = now - timedelta(seconds=self._lease_seconds + MAX_AGE)
        return StoredStatus(
            leases=await self._leases.leases(),
            replicas=await self._leases.live(since),
            bounds=await self._pools.bounds(),
            demand=await self._pools.demand(),
        )
