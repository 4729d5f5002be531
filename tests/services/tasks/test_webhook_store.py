"""The webhook store on SQLite and PostgreSQL: the owner limit, pages filtered by subject,
deliveries recorded once, their state and the webhook's figures read from the tasks."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from services.tasks.changes import NewTask
from services.tasks.records import AttemptError
from services.tasks.records import tasks as table
from services.tasks.store import TaskStore
from services.tasks.webhooks.records import WebhookRecord
from services.tasks.webhooks.store import NewDelivery, WebhookStore
from voka import db
from voka.pagination import Cursor, Page
from voka.tasks.v1 import tasks_pb2
from voka.transactions import Transactions


@pytest.fixture
async def stores(database_url: str) -> AsyncIterator[tuple[TaskStore, WebhookStore]]:
    engine = db.create_engine(database_url)
    await db.migrate(engine, "tasks")
    transactions = Transactions(engine, "tasks")
    store = TaskStore(transactions)
    yield store, WebhookStore(transactions)
    transactions.close()
    await engine.dispose()


def webhook(
    owner: str = "users/a", subjects: list[str] | None = None, at: int = 0
) -> WebhookRecord:
    when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=at)
    return WebhookRecord(
        id=uuid.uuid4().hex, owner=owner, description="", target_uri="https://example.com/",
        event_subjects=subjects or ["voka.meetings.>"], active=True, sealed_secret="x",
        max_attempts=3, create_time=when, update_time=when,
    )  # fmt: skip


def task(owner: str = "users/a") -> NewTask:
    return NewTask(
        id=uuid.uuid4().hex,
        owner=owner,
        function_name="webhooks.deliver",
        args="{}",
        priority=3,
        worker_type=tasks_pb2.WORKER_TYPE_NETWORK_INTENSIVE,
        idempotency_key=None,
        not_before_time=None,
        deadline_time=None,
        attempt_timeout=60.0,
        max_attempts=3,
        shard_key="",
        shard=0,
        state=tasks_pb2.TASK_STATE_QUEUED,
        create_time=datetime.now(UTC),
    )


async def test_owner_limit_and_pages_filtered_by_subject(stores):
    _, hooks = stores
    made = [webhook(subjects=["voka.auth.>"] if i % 2 else ["voka.meetings.>"], at=i)
            for i in range(6)]  # fmt: skip
    for record in made:
        assert await hooks.create(record, limit=6)
    assert not await hooks.create(webhook(), limit=6)
    assert await hooks.create(webhook("users/b"), limit=6)  # the limit is per owner
    first = await hooks.page("users/a", "voka.auth.user.deleted", Page(2))
    assert [r.id for r in first.items] == [made[1].id, made[3].id]
    assert (first.more, first.total) == (True, 3)
    last = made[3]
    rest = await hooks.page("users/a", "voka.auth.user.deleted",
                            Page(2, Cursor(last.create_time, last.id)))  # fmt: skip
    assert [r.id for r in rest.items] == [made[5].id]
    assert not rest.more
    everyone = await hooks.page(None, "", Page(50))
    assert everyone.total == 7


async def test_deliveries_once_with_state_and_figures_from_their_tasks(stores):
    tasks, hooks = stores
    record = webhook()
    await hooks.create(record, limit=10)
    made = [task() for _ in range(3)]
    await tasks.submit(made)
    now = datetime.now(UTC)
    rows = [NewDelivery(id=uuid.uuid4().hex, webhook_id=record.id, event_id=f"e{i}",
                        event_subject="voka.meetings.client.created", task_id=t.id,
                        payload={"id": f"e{i}"}, create_time=now + timedelta(seconds=i))
            for i, t in enumerate(made)]  # fmt: skip
    await hooks.add_deliveries(rows)
    await hooks.add_deliveries(rows[:1])  # a redelivered event: recorded once
    found, more = await hooks.deliveries(record.id, 0, Page(10))
    assert [d.event_id for d in found] == ["e2", "e1", "e0"]  # newest first
    assert not more
    assert {d.state for d in found} == {tasks_pb2.WEBHOOK_DELIVERY_STATE_PENDING}

    error = AttemptError(message="HTTP 500 after 3 ms", type="DeliveryFailed", retryable=True,
                         attempt=3)  # fmt: skip
    await tasks.cancel(made[2].id, "test", now)
    for dead in made[:2]:
        await _dead_letter(tasks, dead.id, error)
    failed, _ = await hooks.deliveries(record.id, tasks_pb2.WEBHOOK_DELIVERY_STATE_FAILED, Page(10))
    assert {d.event_id for d in failed} == {"e0", "e1"}
    figures = await hooks.get(record.id)
    assert figures is not None
    assert figures.consecutive_failures == 2
    assert figures.last_delivery_time is not None
    assert await hooks.delete(record.id) == []  # nothing left unfinished
    assert await hooks.get(record.id) is None


async def test_a_run_of_failures_switches_a_webhook_off_until_its_owner_changes_it(stores):
    tasks, hooks = stores
    failing, healthy = webhook(), webhook()
    for record in (failing, healthy):
        await hooks.create(record, limit=10)
    made = [task() for _ in range(3)]
    await tasks.submit(made)
    now = datetime.now(UTC)
    await hooks.add_deliveries([
        NewDelivery(id=uuid.uuid4().hex, webhook_id=failing.id, event_id=f"e{i}",
                    event_subject="voka.meetings.client.created", task_id=t.id,
                    payload={}, create_time=now)
        for i, t in enumerate(made)
    ])  # fmt: skip
    error = AttemptError(message="HTTP 503", type="DeliveryFailed", retryable=True, attempt=3)
    for dead in made[:2]:
        await _dead_letter(tasks, dead.id, error)
    assert await hooks.switch_off_failing(3, datetime.now(UTC)) == []  # two in a row: not yet
    await _dead_letter(tasks, made[2].id, error)
    assert await hooks.switch_off_failing(3, datetime.now(UTC)) == [failing.name]
    assert await hooks.switch_off_failing(3, datetime.now(UTC)) == []  # once
    assert [r.id for r in await hooks.active()] == [healthy.id]
    off = await hooks.get(failing.id)
    assert off is not None
    assert (off.active, off.consecutive_failures) == (False, 3)  # the figure stays for the owner
    await hooks.update(failing.id, datetime.now(UTC), active=True)  # the owner fixed the receiver
    assert await hooks.switch_off_failing(3, datetime.now(UTC)) == []  # a fresh run


async def test_another_webhooks_success_does_not_break_a_run_of_failures(stores):
    """A webhook's last success is its own: one delivered to another webhook between two of
    its failures leaves the run at two (the figure once read every webhook's successes)."""
    tasks, hooks = stores
    failing, healthy = webhook(), webhook()
    for record in (failing, healthy):
        await hooks.create(record, limit=10)
    first, success, second = made = [task() for _ in range(3)]
    await tasks.submit(made)
    now = datetime.now(UTC)
    await hooks.add_deliveries([
        NewDelivery(id=uuid.uuid4().hex, webhook_id=hook.id, event_id=f"e{i}",
                    event_subject="voka.meetings.client.created", task_id=t.id,
                    payload={}, create_time=now)
        for i, (hook, t) in enumerate(zip((failing, healthy, failing), made, strict=True))
    ])  # fmt: skip
    error = AttemptError(message="HTTP 503", type="DeliveryFailed", retryable=True, attempt=3)
    await _dead_letter(tasks, first.id, error)
    await _end(tasks, success.id, tasks_pb2.TASK_STATE_SUCCEEDED)
    await _dead_letter(tasks, second.id, error)
    figures = await hooks.get(failing.id)
    assert figures is not None
    assert figures.consecutive_failures == 2
    assert await hooks.switch_off_failing(2, datetime.now(UTC)) == [failing.name]


async def _end(tasks: TaskStore, task_id: str, state: int, **values: object) -> None:
    """A task reaching a final state as the scheduler records it (without a lease fence)."""
    at = datetime.now(UTC)
    update = (
        sa.update(table)
        .where(table.c.id == task_id)
        .values(state=state, end_time=at, update_time=at, **values)
    )
    await tasks.transactions.write(lambda c: c.execute(update))


async def _dead_letter(tasks: TaskStore, task_id: str, error: AttemptError) -> None:
    """What the scheduler does after the last failed attempt."""
    await _end(tasks, task_id, tasks_pb2.TASK_STATE_DEAD_LETTERED, attempts=3,
               last_error=error.to_json(), dead_letter_time=datetime.now(UTC))  # fmt: skip
