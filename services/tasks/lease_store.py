"""What the replicas share in the database: shard leases (which replica serves which shard,
until when, under which fencing epoch), the replicas' heartbeats that the shards are balanced
over, and the pauses every replica applies.

Every change of owner raises the shard's epoch. A replica's statements on tasks carry a
`Fence` (its id and the epoch of each shard it holds) and match a row only while the lease
row still says so and has not expired: a replica that lost a shard, even for a moment and
without noticing, changes nothing there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.tasks.records import SHARD, WORKER_TYPE, pauses, replicas, shard_leases, tasks
from voka.transactions import Transactions
from voka.wellknown import utc


@dataclass(frozen=True)
class Fence:
    """What a replica believes it holds; statements match only while the database agrees."""

    replica: str
    epochs: Mapping[int, int]  # shard → epoch
    now: datetime

    def condition(self) -> sa.ColumnElement[bool]:
        """The task row's shard is leased to this replica, at the epoch it knows, unexpired."""
        if not self.epochs:
            return sa.false()
        return sa.exists().where(
            shard_leases.c.shard == tasks.c.shard,
            shard_leases.c.owner == self.replica,
            _at_epochs(self.epochs),
            shard_leases.c.expire_time > self.now,
        )

    def held(self, connection: Connection) -> set[int]:
        """The shards the database still has leased to this replica at these epochs; their
        lease rows stay locked (PostgreSQL's FOR SHARE) until the transaction ends, so no
        takeover lands between this check and the writes it guards. One statement built
        once (this replica's unexpired leases), the epochs compared here: every hand-out and
        every round of reports asks, and building a statement per ask cost more than the
        writes of a small round."""
        rows = connection.execute(_HELD, {"owner": self.replica, "now": self.now})
        return {shard for shard, epoch in rows if self.epochs.get(shard) == epoch}


@dataclass(frozen=True)
class Lease:
    """One row of the lease table."""

    shard: int
    owner: str | None
    epoch: int
    expire_time: datetime | None


@dataclass(frozen=True)
class Replica:
    """One row of the replicas table."""

    id: str
    start_time: datetime
    heartbeat_time: datetime
    draining: bool


class LeaseStore:
    """What the replicas share: the lease, replica and pause tables."""

    def __init__(self, transactions: Transactions) -> None:
        self._db = transactions

    async def prepare(self, shards: int) -> None:
        """Create the rows of shards 0..shards-1 that do not exist yet (unowned)."""
        rows = [{"shard": shard, "owner": None, "epoch": 0, "expire_time": None}
                for shard in range(shards)]  # fmt: skip

        def insert(connection: Connection) -> None:
            dialect = connection.dialect.name
            statement = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(shard_leases)
            connection.execute(
                statement.on_conflict_do_nothing(index_elements=[shard_leases.c.shard]), rows
            )

        await self._db.write(insert)

    async def heartbeat(self, replica: str, start: datetime, now: datetime) -> bool:
        """Say this replica is alive; returns whether it is draining."""

        def beat(connection: Connection) -> bool:
            changed = connection.execute(
                sa.update(replicas).where(replicas.c.id == replica).values(heartbeat_time=now)
            )
            if not changed.rowcount:
                connection.execute(sa.insert(replicas).values(
                    id=replica, start_time=start, heartbeat_time=now, draining=False))  # fmt: skip
            select = sa.select(replicas.c.draining).where(replicas.c.id == replica)
            return bool(connection.execute(select).scalar_one())

        return await self._db.write(beat)

    async def live(self, since: datetime) -> list[Replica]:
        """Replicas whose heartbeat is newer than `since`."""
        select = sa.select(replicas).where(replicas.c.heartbeat_time > since)
        rows = await self._db.read(lambda c: c.execute(select).all())
        return [Replica(**_aware(row._mapping)) for row in rows]

    async def forget_replicas(self, before: datetime) -> None:
        """Drop the heartbeat rows of replicas silent since `before`."""
        delete = sa.delete(replicas).where(replicas.c.heartbeat_time < before)
        await self._db.write(lambda c: c.execute(delete))

    async def leases(self) -> list[Lease]:
        rows = await self._db.read(
            lambda c: c.execute(sa.select(shard_leases).order_by(shard_leases.c.shard)).all()
        )
        return [Lease(**_aware(row._mapping)) for row in rows]

    async def renew(
        self, replica: str, epochs: Mapping[int, int], until: datetime, now: datetime
    ) -> set[int]:
        """Extend the unexpired leases this replica holds at these epochs; returns the shards
        renewed (the others were lost)."""
        if not epochs:
            return set()
        update = (
            sa.update(shard_leases)
            .where(shard_leases.c.owner == replica, _at_epochs(epochs),
                   shard_leases.c.expire_time > now)
            .values(expire_time=until)
            .returning(shard_leases.c.shard)
        )  # fmt: skip
        rows = await self._db.write(lambda c: c.execute(update).all())
        return {int(row.shard) for row in rows}

    async def acquire(
        self, replica: str, shards: Sequence[int], count: int, until: datetime, now: datetime
    ) -> dict[int, int]:
        """Take up to `count` of these shards that nobody holds (or whose lease expired),
        raising each one's epoch; returns shard → new epoch."""

        def take(connection: Connection) -> dict[int, int]:
            taken: dict[int, int] = {}
            for shard in shards:
                if len(taken) >= count:
                    break
                update = (
                    sa.update(shard_leases)
                    .where(shard_leases.c.shard == shard,
                           sa.or_(shard_leases.c.owner.is_(None),
                                  shard_leases.c.expire_time <= now))
                    .values(owner=replica, epoch=shard_leases.c.epoch + 1, expire_time=until)
                    .returning(shard_leases.c.epoch)
                )  # fmt: skip
                epoch = connection.execute(update).scalar()
                if epoch is not None:
                    taken[shard] = int(epoch)
            return taken

        return await self._db.write(take)

    async def release(self, replica: str, epochs: Mapping[int, int]) -> None:
        """Give shards back (a clean stop, a drain, or rebalancing): free for the others at
        once, without waiting for the lease to expire."""
        if not epochs:
            return
        update = (
            sa.update(shard_leases)
            .where(shard_leases.c.owner == replica, _at_epochs(epochs))
            .values(owner=None, expire_time=None)
        )  # fmt: skip
        await self._db.write(lambda c: c.execute(update))

    async def set_pause(self, kind: str, value: int, paused: bool, now: datetime) -> bool:
        """Pause (or resume) a shard or a worker type everywhere; False if it already was."""

        def change(connection: Connection) -> bool:
            key = sa.and_(pauses.c.kind == kind, pauses.c.value == value)
            if not paused:
                return bool(connection.execute(sa.delete(pauses).where(key)).rowcount)
            if connection.execute(sa.select(pauses.c.kind).where(key)).first() is not None:
                return False
            connection.execute(sa.insert(pauses).values(kind=kind, value=value, create_time=now))
            return True

        return await self._db.write(change)

    async def pauses(self) -> tuple[set[int], set[int]]:
        """The paused shards and the paused worker types."""
        rows = await self._db.read(lambda c: c.execute(sa.select(pauses)).all())
        shards = {int(r.value) for r in rows if r.kind == SHARD}
        return shards, {int(r.value) for r in rows if r.kind == WORKER_TYPE}

    async def set_draining(self, replica: str, draining: bool) -> bool:
        """Mark a replica draining (or not); False if no such replica."""
        update = sa.update(replicas).where(replicas.c.id == replica).values(draining=draining)
        return await self._db.write(lambda c: bool(c.execute(update).rowcount))


def _aware(row: sa.RowMapping) -> dict[str, Any]:
    """SQLite hands datetimes back naive (they are UTC)."""
    return {k: utc(v) if isinstance(v, datetime) else v for k, v in row.items()}


_HELD = (  # a replica's unexpired leases, locked until the transaction ends (PostgreSQL)
    sa.select(shard_leases.c.shard, shard_leases.c.epoch)
    .where(shard_leases.c.owner == sa.bindparam("owner"),
           shard_leases.c.expire_time > sa.bindparam("now"))
    .with_for_update(read=True)
)  # fmt: skip


def _at_epochs(epochs: Mapping[int, int]) -> sa.ColumnElement[bool]:
    """The lease rows of these shards at these epochs: one row-value IN, cheap to build on
    every statement (an OR of pairs costs milliseconds of expression building)."""
    return sa.tuple_(shard_leases.c.shard, shard_leases.c.epoch).in_(list(epochs.items()))


def later(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
