"""The pool bounds table (`tasks_pools`): the [min, max] workers an operator sets with
ResizePool and the size the autoscaler wants, one row per pool, so every replica reports them
and a new autoscaler carries on from them; and the demand per worker type the autoscaler reads.

A pool without a row is not autoscaled: it is whatever workers run for it (the embedded ones
of `make up`, or dedicated workers started by hand).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.tasks.records import WorkerType, pools, tasks
from voka.tasks.v1 import tasks_pb2
from voka.transactions import Transactions

# Tasks that want a worker slot now: waiting in a ready queue, or handed out (running, or
# waiting in JetStream for a free worker).
DEMAND_STATES = (tasks_pb2.TASK_STATE_QUEUED, tasks_pb2.TASK_STATE_RUNNING)


@dataclass(frozen=True)
class PoolBounds:
    """One pool's row: its bounds and the workers wanted now."""

    worker_type: WorkerType
    min_workers: int
    max_workers: int
    desired_workers: int

    def clamp(self, workers: int) -> int:
        return max(self.min_workers, min(self.max_workers, workers))


class PoolStore:
    """The `tasks_pools` table, and the demand per worker type the autoscaler reads."""

    def __init__(self, transactions: Transactions) -> None:
        self._db = transactions

    async def bounds(self) -> dict[WorkerType, PoolBounds]:
        columns = (pools.c.worker_type, pools.c.min_workers, pools.c.max_workers,
                   pools.c.desired_workers)  # fmt: skip
        rows = await self._db.read(lambda c: c.execute(sa.select(*columns)).all())
        return {row.worker_type: PoolBounds(*row) for row in rows}

    async def set_bounds(self, bounds: PoolBounds, now: datetime) -> None:
        """Create or replace the pool's row (ResizePool)."""
        values = {"min_workers": bounds.min_workers, "max_workers": bounds.max_workers,
                  "desired_workers": bounds.desired_workers, "update_time": now}  # fmt: skip

        def upsert(connection: Connection) -> None:
            dialect = connection.dialect.name
            insert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(pools)
            connection.execute(
                insert.values(worker_type=bounds.worker_type, **values).on_conflict_do_update(
                    index_elements=[pools.c.worker_type], set_=values
                )
            )

        await self._db.write(upsert)

    async def set_desired(self, read: PoolBounds, desired: int, now: datetime) -> bool:
        """Change the wanted size if the row is still as `read` (an operator's resize in
        between wins); returns whether it changed."""
        update = (
            sa.update(pools)
            .where(pools.c.worker_type == read.worker_type,
                   pools.c.min_workers == read.min_workers,
                   pools.c.max_workers == read.max_workers,
                   pools.c.desired_workers == read.desired_workers)
            .values(desired_workers=desired, update_time=now)
        )  # fmt: skip
        return await self._db.write(lambda c: bool(c.execute(update).rowcount))

    async def demand(self) -> Counter[WorkerType]:
        """Tasks queued or handed out, per worker type, across every shard."""
        select = (
            sa.select(tasks.c.worker_type, sa.func.count())
            .where(tasks.c.state.in_(DEMAND_STATES))
            .group_by(tasks.c.worker_type)
        )
        rows = await self._db.read(lambda c: c.execute(select).all())
        return Counter({row[0]: int(row[1]) for row in rows})
