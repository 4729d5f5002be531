"""The task store on SQLite and PostgreSQL: idempotent inserts and state changes that only the
current attempt can make."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta

import pytest

from services.tasks.changes import Attempt, Handout, NewTask, Progress, TaskQuery
from services.tasks.lease_store import Fence, LeaseStore
from services.tasks.ready_queues import Item
from services.tasks.records import AttemptError
from services.tasks.store import TaskStore
from voka import db
from voka.tasks.v1 import tasks_pb2
from voka.transactions import Transactions


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[TaskStore]:
    engine = db.create_engine(database_url)
    await db.migrate(engine, "tasks")
    transactions = Transactions(engine, "tasks")
    store = TaskStore(transactions)
    yield store
    transactions.close()
    await engine.dispose()


@pytest.fixture
async def fence(store: TaskStore) -> Fence:
    """Shard 1 (every test task's) leased to replica r1."""
    leases = LeaseStore(store.transactions)
    await leases.prepare(4)
    now = datetime.now(UTC)
    epochs = await leases.acquire("r1", [1], 1, now + timedelta(minutes=5), now)
    return Fence("r1", epochs, now)


def new_task(owner: str = "users/a", key: str | None = None) -> NewTask:
    return NewTask(
        id=uuid.uuid4().hex, owner=owner, function_name="demo.noop", args="{}", priority=3,
        worker_type=5, idempotency_key=key, not_before_time=None, deadline_time=None,
        attempt_timeout=60.0, max_attempts=3, shard_key="", shard=1,
        state=tasks_pb2.TASK_STATE_QUEUED, create_time=datetime.now(UTC),
    )  # fmt: skip


def items(*queued: NewTask) -> list[Item]:
    """The tasks as queued from another replica's hint: no hand-out kept, so it is read back."""
    return [Item(new.id, new.shard, new.worker_type, new.priority, 0.0) for new in queued]


async def test_a_kept_hand_out_and_one_read_back_agree(store: TaskStore, fence: Fence):
    kept, read = new_task(), new_task()
    [(record, _), _] = await store.submit([kept, read])
    item = replace(items(kept)[0], handout=Handout.of(record))
    now = datetime.now(UTC)
    handouts = await store.dispatch([item, *items(read)], "d1", now, fence)
    assert [(h.id, h.attempts, h.dispatch_id) for h in handouts] == [
        (kept.id, 1, "d1"), (read.id, 1, "d1")
    ]  # fmt: skip
    own = ("id", "create_time")  # the two tasks differ in these only
    assert {k: v for k, v in asdict(handouts[0]).items() if k not in own} == {
        k: v for k, v in asdict(handouts[1]).items() if k not in own
    }
    stored = await store.get(read.id)
    assert stored is not None
    assert handouts[1].create_time == stored.create_time


async def test_idempotency_key_is_unique_per_owner(store: TaskStore):
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


async def test_one_key_twice_in_one_round_goes_in_once(store: TaskStore):
    """A round's rows go in as one INSERT on SQLite: a key repeated within it still names one
    task, the first, as it did row by row."""
    first, same, plain = new_task(key="k"), new_task(key="k"), new_task()
    results = await store.submit([first, same, plain])
    assert [(record.id, dedup) for record, dedup in results] == [
        (first.id, False), (first.id, True), (plain.id, False)
    ]  # fmt: skip
    assert await store.get(same.id) is None


async def test_only_the_current_attempt_changes_a_running_task(store: TaskStore, fence: Fence):
    task = new_task()
    await store.submit([task])
    now = datetime.now(UTC)
    [handout] = await store.dispatch(items(task), "d1", now, fence)
    assert (handout.id, handout.attempts, handout.dispatch_id) == (task.id, 1, "d1")
    running = await store.get(task.id)
    assert running is not None
    assert running.state == tasks_pb2.TASK_STATE_RUNNING
    assert await store.dispatch(items(task), "d2", now, fence) == []  # not QUEUED any more

    def success(dispatch_id: str, result: object) -> Progress:
        return Progress(task.id, dispatch_id, 1, "w1", now, succeeded=True, result=result)

    assert await store.progress([success("stale", 1)], datetime.now(UTC), fence) == {}
    changed = await store.progress([success("d1", {"ok": True})], datetime.now(UTC), fence)
    assert changed == {task.id: tasks_pb2.TASK_STATE_SUCCEEDED}
    assert await store.progress([success("d1", {"ok": False})], datetime.now(UTC), fence) == {}
    done = await store.get(task.id)
    assert done is not None
    assert (done.result, done.worker) == ({"ok": True}, "w1")  # the duplicate changed nothing


async def test_progress_applies_a_batch_and_names_only_what_changed(store: TaskStore, fence: Fence):
    started, finished, stale = new_task(), new_task(), new_task()
    await store.submit([started, finished, stale])
    now = datetime.now(UTC)
    await store.dispatch(items(started, finished, stale), "d1", now, fence)
    batch = [
        Progress(started.id, "d1", 1, "w1", now),
        Progress(finished.id, "d1", 1, "w1", now),
        Progress(finished.id, "d1", 1, "w1", now, succeeded=True, result=[1, 2]),
        Progress(stale.id, "old", 1, "w1", now, succeeded=True),
    ]
    changed = await store.progress(batch, datetime.now(UTC), fence)
    assert changed == {
        started.id: tasks_pb2.TASK_STATE_RUNNING,
        finished.id: tasks_pb2.TASK_STATE_SUCCEEDED,
    }
    running, done = await store.get(started.id), await store.get(finished.id)
    assert running is not None
    assert done is not None
    assert (running.worker, done.result) == ("w1", [1, 2])


async def test_dead_letter_then_requeue_counts_attempts_from_zero(store: TaskStore, fence: Fence):
    task = new_task()
    await store.submit([task])
    now = datetime.now(UTC)
    await store.dispatch(items(task), "d1", now, fence)
    error = AttemptError(message="boom", type="RuntimeError", retryable=True, attempt=1)
    current = Attempt(task.id, "d1", fence)
    assert await store.dead_lettered(current, error, tasks_pb2.DEAD_LETTER_REASON_MAX_ATTEMPTS, now)
    letters, more = await store.page(TaskQuery(owner="users/a", dead_letters=True))
    assert [r.id for r in letters] == [task.id]
    assert not more
    assert letters[0].last_error == error
    assert await store.requeue_dead_letter(task.id, 5, tasks_pb2.PRIORITY_HIGH, now)
    again = await store.get(task.id)
    assert again is not None
    assert (again.state, again.attempts, again.max_attempts) == (tasks_pb2.TASK_STATE_QUEUED, 0, 5)
    assert (again.priority, again.dead_letter_retries) == (tasks_pb2.PRIORITY_HIGH, 1)


async def test_cancel_waiting_is_final_and_running_only_requests_it(store: TaskStore, fence: Fence):
    waiting, running = new_task(), new_task()
    await store.submit([waiting, running])
    now = datetime.now(UTC)
    await store.dispatch(items(running), "d1", now, fence)
    assert await store.cancel(waiting.id, "stop", now)
    assert await store.cancel(running.id, "stop", now)
    w, r = await store.get(waiting.id), await store.get(running.id)
    assert w is not None
    assert r is not None
    assert w.state == tasks_pb2.TASK_STATE_CANCELLED
    assert (r.state, r.cancel_requested) == (tasks_pb2.TASK_STATE_RUNNING, True)


async def test_a_replica_that_lost_its_lease_changes_nothing(store: TaskStore, fence: Fence):
    task = new_task()
    await store.submit([task])
    now = datetime.now(UTC)
    assert await store.dispatch(items(task), "d1", now, fence)
    leases = LeaseStore(store.transactions)
    await leases.release("r1", fence.epochs)  # r1 stalls; its lease is gone
    later = now + timedelta(minutes=5)
    taken = await leases.acquire("r2", [1], 1, later, now)
    assert taken == {1: fence.epochs[1] + 1}  # a new owner, a new epoch
    report = Progress(task.id, "d1", 1, "w1", now, succeeded=True)
    assert await store.progress([report], datetime.now(UTC), fence) == {}
    error = AttemptError(message="lost", type="WorkerLost", retryable=True, attempt=1)
    assert not await store.retrying(Attempt(task.id, "d1", fence), error, later, now)
    owner = Fence("r2", taken, datetime.now(UTC))
    changed = await store.progress([report], datetime.now(UTC), owner)
    assert changed == {task.id: tasks_pb2.TASK_STATE_SUCCEEDED}
