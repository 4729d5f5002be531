"""The task store on SQLite and PostgreSQL: idempotent inserts and state changes that only the
current attempt can make."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from services.tasks.records import AttemptError
from services.tasks.store import NewTask, Store, TaskQuery
from voka import db
from voka.tasks.v1 import tasks_pb2

T = tasks_pb2


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    engine = db.create_engine(database_url)
    await db.migrate(engine, "tasks")
    yield Store(db.session_factory(engine))
    await engine.dispose()


def new_task(owner: str = "users/a", key: str | None = None) -> NewTask:
    return NewTask(
        id=uuid.uuid4().hex, owner=owner, function_name="demo.noop", args={}, priority=3,
        worker_type=5, idempotency_key=key, not_before_time=None, deadline_time=None,
        attempt_timeout=60.0, max_attempts=3, shard_key="", shard=1,
        state=T.TASK_STATE_QUEUED, create_time=datetime.now(UTC),
    )  # fmt: skip


async def test_idempotency_key_is_unique_per_owner(store: Store):
    first, same, other = new_task(key="k"), new_task(key="k"), new_task("users/b", key="k")
    (record, dedup), *_ = await store.submit([first])
    assert not dedup
    [(again, dedup)] = await store.submit([same])
    assert dedup
    assert again.id == first.id
    [(theirs, dedup)] = await store.submit([other])
    assert not dedup
    assert theirs.id == other.id
    assert record.create_time.tzinfo is not None


async def test_only_the_current_attempt_changes_a_running_task(store: Store):
    task = new_task()
    await store.submit([task])
    now = datetime.now(UTC)
    [running] = await store.dispatch([(task.id, "d1")], now)
    assert (running.state, running.attempts) == (T.TASK_STATE_RUNNING, 1)
    assert await store.dispatch([(task.id, "d2")], now) == []  # not QUEUED any more
    assert not await store.succeeded(task.id, "stale", 1, now)
    assert await store.succeeded(task.id, "d1", {"ok": True}, now)
    assert not await store.succeeded(task.id, "d1", {"ok": False}, now)  # duplicate report
    done = await store.get(task.id)
    assert done is not None
    assert (done.state, done.result) == (T.TASK_STATE_SUCCEEDED, {"ok": True})


async def test_dead_letter_then_requeue_counts_attempts_from_zero(store: Store):
    task = new_task()
    await store.submit([task])
    now = datetime.now(UTC)
    await store.dispatch([(task.id, "d1")], now)
    error = AttemptError(message="boom", type="RuntimeError", retryable=True, attempt=1)
    assert await store.dead_lettered(task.id, "d1", error, T.DEAD_LETTER_REASON_MAX_ATTEMPTS, now)
    letters, more = await store.page(TaskQuery(owner="users/a", dead_letters=True))
    assert [r.id for r in letters] == [task.id]
    assert not more
    assert letters[0].last_error == error
    assert await store.requeue_dead_letter(task.id, 5, T.PRIORITY_HIGH, now)
    again = await store.get(task.id)
    assert again is not None
    assert (again.state, again.attempts, again.max_attempts) == (T.TASK_STATE_QUEUED, 0, 5)
    assert (again.priority, again.dead_letter_retries) == (T.PRIORITY_HIGH, 1)


async def test_cancel_waiting_is_final_and_running_only_requests_it(store: Store):
    waiting, running = new_task(), new_task()
    await store.submit([waiting, running])
    now = datetime.now(UTC)
    await store.dispatch([(running.id, "d1")], now)
    assert await store.cancel(waiting.id, "stop", now)
    assert await store.cancel(running.id, "stop", now)
    w, r = await store.get(waiting.id), await store.get(running.id)
    assert w is not None
    assert r is not None
    assert w.state == T.TASK_STATE_CANCELLED
    assert (r.state, r.cancel_requested) == (T.TASK_STATE_RUNNING, True)
