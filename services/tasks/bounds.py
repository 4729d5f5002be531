"""Pool bounds: the [min, max] workers an operator sets with ResizePool and the size the
autoscaler wants, one row per pool in `tasks_pools` (so every replica reports them and a new
autoscaler carries on from them); and the PoolResizedEvent that tells worker supervisors.

A pool without a row is not autoscaled: it is whatever workers run for it (the embedded ones
of `make up`, or dedicated workers started by hand).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeAlias

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.tasks.events import type_token
from services.tasks.records import WorkerType, pools, tasks
from services.tasks.transactions import Transactions
from voka import errors
from voka.bus import Bus
from voka.errors import FieldViolation
from voka.tasks.v1 import events_pb2, tasks_pb2

MAX_WORKERS = 1024
WORKER_TYPES = tuple(t for t in tasks_pb2.WorkerType.values() if t)
# Tasks that want a worker slot now: waiting in a ready queue, or handed out (running, or
# waiting in JetStream for a free worker).
DEMAND_STATES = (tasks_pb2.TASK_STATE_QUEUED, tasks_pb2.TASK_STATE_RUNNING)
Cause: TypeAlias = events_pb2.PoolResizeCause.ValueType


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


def check(action: tasks_pb2.ResizePoolAction) -> None:
    """INVALID_ARGUMENT with every bad field: a worker type, 1 <= max <= 1024, 0 <= min <= max."""
    problems = []
    if action.worker_type not in WORKER_TYPES:
        problems.append(FieldViolation("resize_pool.worker_type", "is required: a worker type"))
    if not 1 <= action.max_workers <= MAX_WORKERS:
        problems.append(FieldViolation("resize_pool.max_workers", f"1 to {MAX_WORKERS}"))
    if not 0 <= action.min_workers <= max(0, action.max_workers):
        problems.append(FieldViolation("resize_pool.min_workers", "0 to max_workers"))
    if problems:
        raise errors.invalid_argument(problems)


async def resize(
    store: PoolStore, bus: Bus, action: tasks_pb2.ResizePoolAction, live_workers: int
) -> PoolBounds:
    """ResizePool: store the bounds, keep the wanted size (or the live workers' count for a
    pool bounded for the first time) inside them, and tell the supervisors."""
    check(action)
    known = (await store.bounds()).get(action.worker_type)
    start = known.desired_workers if known is not None else live_workers
    asked = PoolBounds(action.worker_type, action.min_workers, action.max_workers, 0)
    bounds = replace(asked, desired_workers=asked.clamp(start))
    await store.set_bounds(bounds, datetime.now(UTC))
    await announce(bus, bounds, events_pb2.POOL_RESIZE_CAUSE_OPERATOR)
    return bounds


async def announce(bus: Bus, bounds: PoolBounds, cause: Cause) -> None:
    """Stored in JetStream (not a bare hint): a supervisor starting later reads the last one."""
    event = events_pb2.PoolResizedEvent(
        worker_type=bounds.worker_type, min_workers=bounds.min_workers,
        max_workers=bounds.max_workers, desired_workers=bounds.desired_workers, cause=cause,
    )  # fmt: skip
    await bus.publish(event, suffix=type_token(bounds.worker_type))
