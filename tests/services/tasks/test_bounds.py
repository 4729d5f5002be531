"""Pool bounds in the database (migration tasks_0005) on SQLite and PostgreSQL, and the
validation of ResizePoolAction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from google.rpc import error_details_pb2

from services.tasks.bounds import check
from services.tasks.changes import NewTask
from services.tasks.pool_store import PoolBounds, PoolStore
from services.tasks.store import TaskStore
from voka import db
from voka.errors import VokaError
from voka.tasks.v1 import tasks_pb2
from voka.transactions import Transactions

CPU, IO = tasks_pb2.WORKER_TYPE_CPU_INTENSIVE, tasks_pb2.WORKER_TYPE_IO_INTENSIVE
MIN = "resize_pool.min_workers"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[TaskStore]:
    engine = db.create_engine(database_url)
    await db.migrate(engine, "tasks")
    transactions = Transactions(engine, "tasks")
    store = TaskStore(transactions)
    yield store
    transactions.close()
    await engine.dispose()


def task(worker_type: int, state: int) -> NewTask:
    return NewTask(
        id=uuid.uuid4().hex, owner="users/a", function_name="demo.cpu_burn", args="{}",
        priority=3, worker_type=worker_type, idempotency_key=None, not_before_time=None,
        deadline_time=None, attempt_timeout=60.0, max_attempts=3, shard_key="", shard=0,
        state=state, create_time=datetime.now(UTC),
    )  # fmt: skip


async def test_bounds_are_created_replaced_and_read_back(store: TaskStore):
    pools = PoolStore(store.transactions)
    assert await pools.bounds() == {}
    now = datetime.now(UTC)
    await pools.set_bounds(PoolBounds(CPU, 1, 4, 2), now)
    await pools.set_bounds(PoolBounds(IO, 0, 8, 0), now)
    await pools.set_bounds(PoolBounds(CPU, 0, 3, 3), now)  # ResizePool again: replaced
    assert await pools.bounds() == {CPU: PoolBounds(CPU, 0, 3, 3), IO: PoolBounds(IO, 0, 8, 0)}


async def test_the_autoscaler_changes_only_the_row_it_read(store: TaskStore):
    pools = PoolStore(store.transactions)
    now = datetime.now(UTC)
    await pools.set_bounds(PoolBounds(CPU, 0, 10, 2), now)
    read = (await pools.bounds())[CPU]
    await pools.set_bounds(PoolBounds(CPU, 0, 4, 2), now)  # an operator's resize in between
    assert not await pools.set_desired(read, 7, now)
    assert (await pools.bounds())[CPU].desired_workers == 2
    fresh = (await pools.bounds())[CPU]
    assert await pools.set_desired(fresh, 3, now)
    assert (await pools.bounds())[CPU] == PoolBounds(CPU, 0, 4, 3)


async def test_demand_counts_queued_and_handed_out_tasks_per_type(store: TaskStore):
    states = [
        tasks_pb2.TASK_STATE_QUEUED,
        tasks_pb2.TASK_STATE_QUEUED,
        tasks_pb2.TASK_STATE_SCHEDULED,
    ]
    await store.submit([task(CPU, s) for s in states] + [task(IO, tasks_pb2.TASK_STATE_QUEUED)])
    demand = await PoolStore(store.transactions).demand()
    assert demand == {CPU: 2, IO: 1}  # a task waiting for its not-before time wants no worker


def violations(action: tasks_pb2.ResizePoolAction) -> dict[str, str]:
    with pytest.raises(VokaError) as err:
        check(action)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = err.value.details
    assert isinstance(bad, error_details_pb2.BadRequest)
    return {v.field: v.description for v in bad.field_violations}


@pytest.mark.parametrize(
    ("action", "fields"),
    [
        (tasks_pb2.ResizePoolAction(max_workers=2), {"resize_pool.worker_type"}),
        (tasks_pb2.ResizePoolAction(worker_type=CPU), {"resize_pool.max_workers"}),
        (
            tasks_pb2.ResizePoolAction(worker_type=CPU, max_workers=1025),
            {"resize_pool.max_workers"},
        ),
        (tasks_pb2.ResizePoolAction(worker_type=CPU, min_workers=3, max_workers=2), {MIN}),
        (tasks_pb2.ResizePoolAction(worker_type=CPU, min_workers=-1, max_workers=2), {MIN}),
        (
            tasks_pb2.ResizePoolAction(worker_type=99, min_workers=5, max_workers=0),
            {"resize_pool.worker_type", "resize_pool.max_workers", MIN},
        ),
    ],
)
def test_resize_names_every_bad_field(action: tasks_pb2.ResizePoolAction, fields: set[str]):
    assert set(violations(action)) == fields


@pytest.mark.parametrize(("low", "high"), [(0, 1), (0, 1024), (5, 5), (1, 8)])
def test_resize_accepts_bounds_within_the_limits(low: int, high: int):
    check(tasks_pb2.ResizePoolAction(worker_type=CPU, min_workers=low, max_workers=high))
