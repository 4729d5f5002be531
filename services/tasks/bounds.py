"""Changing a pool's size: ResizePool's checks and write, and the PoolResizedEvent that tells
the worker supervisors (the autoscaler announces its own changes the same way). The bounds
themselves live in `pool_store.py`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeAlias

from services.tasks.events import type_token
from services.tasks.pool_store import PoolBounds, PoolStore
from voka import errors
from voka.bus import Bus
from voka.errors import FieldViolation
from voka.tasks.v1 import events_pb2, tasks_pb2

MAX_WORKERS = 1024
WORKER_TYPES = tuple(t for t in tasks_pb2.WorkerType.values() if t)
Cause: TypeAlias = events_pb2.PoolResizeCause.ValueType


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
