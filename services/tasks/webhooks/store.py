"""Webhook persistence: the webhooks, their deliveries, and the delivery figures read from the
tasks that carry them. Statements run through the task store's `Transactions` (on SQLite, the
same writer thread as every task write)."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.tasks.records import tasks
from services.tasks.webhooks.records import DeliveryRecord, WebhookRecord, deliveries, webhooks
from services.tasks.webhooks.subjects import matches
from voka import pagination
from voka.pagination import Cursor, Listing, Page
from voka.tasks.v1 import tasks_pb2
from voka.transactions import Transactions

CHUNK = 200  # rows read at a time while filtering a page by subject

ORDER: pagination.Order[WebhookRecord] = pagination.Order(
    webhooks.c.create_time, webhooks.c.id, descending=False, kind="datetime",
    value=lambda r: r.create_time,
)  # fmt: skip
DELIVERY_ORDER: pagination.Order[DeliveryRecord] = pagination.Order(
    deliveries.c.create_time, deliveries.c.id, descending=True, kind="datetime",
    value=lambda r: r.create_time,
)  # fmt: skip


def _figures(*, since_change: bool = False) -> tuple[sa.ScalarSelect[Any], sa.ScalarSelect[Any]]:
    """`consecutive_failures` (dead-lettered since the last success; with `since_change`,
    also since the webhook's last change) and `last_delivery_time`, computed from the tasks:
    nothing to keep in step."""

    def ended(*states: int) -> tuple[sa.Select[Any], sa.ColumnElement[Any]]:
        """A select over this webhook's deliveries whose task is in `states` (own aliases,
        so the subqueries nest), and its task's end time."""
        d, t = deliveries.alias(), tasks.alias()
        # Correlated to the webhook row explicitly: nested inside another of these subqueries,
        # automatic correlation looks one level up only, and would read every webhook's rows.
        select = sa.select().select_from(d.join(t, t.c.id == d.c.task_id)).correlate(webhooks)
        return select.where(d.c.webhook_id == webhooks.c.id, t.c.state.in_(states)), t.c.end_time

    ok, ok_end = ended(tasks_pb2.TASK_STATE_SUCCEEDED)
    last_ok = ok.add_columns(sa.func.max(ok_end)).scalar_subquery()
    dead, dead_end = ended(tasks_pb2.TASK_STATE_DEAD_LETTERED)
    failures = dead.add_columns(sa.func.count()).where(
        sa.or_(last_ok.is_(None), dead_end > last_ok)
    )
    if since_change:
        failures = failures.where(dead_end > webhooks.c.update_time)
    done, done_end = ended(tasks_pb2.TASK_STATE_SUCCEEDED, tasks_pb2.TASK_STATE_DEAD_LETTERED)
    last = done.add_columns(sa.func.max(done_end))
    return failures.scalar_subquery(), last.scalar_subquery()


WAITING = (
    tasks_pb2.TASK_STATE_SCHEDULED,
    tasks_pb2.TASK_STATE_QUEUED,
    tasks_pb2.TASK_STATE_RUNNING,
)
DELIVERY_STATE = sa.case(
    (tasks.c.state == tasks_pb2.TASK_STATE_SUCCEEDED, tasks_pb2.WEBHOOK_DELIVERY_STATE_SUCCEEDED),
    (tasks.c.state == tasks_pb2.TASK_STATE_DEAD_LETTERED, tasks_pb2.WEBHOOK_DELIVERY_STATE_FAILED),
    (tasks.c.state == tasks_pb2.TASK_STATE_CANCELLED, tasks_pb2.WEBHOOK_DELIVERY_STATE_CANCELLED),
    (tasks.c.state == tasks_pb2.TASK_STATE_RETRYING, tasks_pb2.WEBHOOK_DELIVERY_STATE_RETRYING),
    # queued again after a failed attempt, or running a second attempt
    (tasks.c.attempts > sa.case((tasks.c.state == tasks_pb2.TASK_STATE_RUNNING, 1), else_=0),
     tasks_pb2.WEBHOOK_DELIVERY_STATE_RETRYING),
    else_=tasks_pb2.WEBHOOK_DELIVERY_STATE_PENDING,
)  # fmt: skip
"""Where a delivery stands, from its task: the contract's WebhookDeliveryState."""


@dataclass(frozen=True)
class NewDelivery:
    """A delivery the dispatcher queued."""

    id: str
    webhook_id: str
    event_id: str
    event_subject: str
    task_id: str
    payload: dict[str, Any]
    create_time: datetime


class WebhookStore:
    """The webhook tables."""

    def __init__(self, transactions: Transactions) -> None:
        self._db = transactions

    async def create(self, record: WebhookRecord, limit: int) -> bool:
        """Insert unless its owner already has `limit` webhooks (checked in the same
        transaction as the insert)."""
        count = sa.select(sa.func.count()).where(webhooks.c.owner == record.owner)

        def run(connection: Connection) -> bool:
            if connection.execute(count).scalar_one() >= limit:
                return False
            connection.execute(sa.insert(webhooks).values(**_row(record)))
            return True

        return await self._db.write(run)

    async def get(self, webhook_id: str) -> WebhookRecord | None:
        found = await self._webhooks(webhooks.c.id == webhook_id)
        return found[0] if found else None

    async def active(self) -> list[WebhookRecord]:
        """Every active webhook (the dispatcher's view), without figures."""
        select = sa.select(webhooks).where(webhooks.c.active.is_(True))
        return await self._db.read(functools.partial(self._all, select))

    async def switch_off_failing(self, limit: int, at: datetime) -> list[str]:
        """Deactivate every active webhook with `limit` or more deliveries dead-lettered in a
        row since its last success and its last change (so an owner who sets it active again
        gives it a fresh run); returns their names. The UPDATE re-checks `active`, so replicas
        doing this at once report each webhook once between them."""
        failures, _ = _figures(since_change=True)
        failing = sa.select(webhooks.c.id).where(webhooks.c.active.is_(True), failures >= limit)

        def run(connection: Connection) -> list[str]:
            ids = list(connection.execute(failing).scalars())
            if not ids:
                return []
            update = (
                sa.update(webhooks)
                .where(webhooks.c.id.in_(ids), webhooks.c.active.is_(True))
                .values(active=False, update_time=at)
                .returning(webhooks.c.id)
            )
            return [f"webhooks/{i}" for i in connection.execute(update).scalars()]

        return await self._db.write(run)

    async def page(self, owner: str | None, subject: str, page: Page) -> Listing[WebhookRecord]:
        """Oldest first; `subject` keeps only webhooks that would receive it (NATS matching
        is done here, so the page is filled from as many rows as it takes)."""
        where = [] if owner is None else [webhooks.c.owner == owner]

        def wanted(row: Any) -> bool:
            return not subject or any(matches(p, subject) for p in json.loads(row.event_subjects))

        def run(connection: Connection) -> tuple[list[str], int]:
            ids: list[str] = []
            cursor = page.cursor
            while len(ids) <= page.size:
                select = sa.select(webhooks.c.id, webhooks.c.create_time,
                                   webhooks.c.event_subjects).where(*where)  # fmt: skip
                if cursor is not None:
                    select = select.where(ORDER.after(cursor))
                chunk = connection.execute(select.order_by(*ORDER.clauses()).limit(CHUNK)).all()
                ids += [row.id for row in chunk if wanted(row)]
                if len(chunk) < CHUNK:
                    break
                cursor = Cursor(chunk[-1].create_time, chunk[-1].id)
            every = sa.select(webhooks.c.event_subjects).where(*where)
            total = sum(map(wanted, connection.execute(every)))
            return ids[: page.size + 1], total

        ids, total = await self._db.read(run)
        found = {r.id: r for r in await self._webhooks(webhooks.c.id.in_(ids))} if ids else {}
        items = [found[i] for i in ids if i in found]
        return Listing(items[: page.size], len(items) > page.size, total)

    async def update(self, webhook_id: str, at: datetime, **values: Any) -> WebhookRecord | None:
        if "event_subjects" in values:
            values["event_subjects"] = json.dumps(values["event_subjects"])
        update = sa.update(webhooks).where(webhooks.c.id == webhook_id)
        await self._db.write(lambda c: c.execute(update.values(**values, update_time=at)))
        return await self.get(webhook_id)

    async def delete(self, webhook_id: str) -> list[str]:
        """Remove the webhook and its delivery rows; returns the tasks of deliveries not yet
        finished (the caller cancels them)."""
        unfinished = (
            sa.select(tasks.c.id)
            .select_from(deliveries.join(tasks, tasks.c.id == deliveries.c.task_id))
            .where(deliveries.c.webhook_id == webhook_id,
                   tasks.c.state.in_([*WAITING, tasks_pb2.TASK_STATE_RETRYING]))
        )  # fmt: skip

        def run(connection: Connection) -> list[str]:
            pending = list(connection.execute(unfinished).scalars())
            connection.execute(sa.delete(deliveries).where(deliveries.c.webhook_id == webhook_id))
            connection.execute(sa.delete(webhooks).where(webhooks.c.id == webhook_id))
            return pending

        return await self._db.write(run)

    async def add_deliveries(self, batch: Sequence[NewDelivery]) -> None:
        """Record deliveries; one already recorded (a redelivered event) is left as it is."""

        def run(connection: Connection) -> None:
            dialect = connection.dialect.name
            insert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(deliveries)
            rows = [{**new.__dict__, "payload": json.dumps(new.payload)} for new in batch]
            connection.execute(insert.on_conflict_do_nothing(index_elements=["id"]), rows)

        if batch:
            await self._db.write(run)

    async def deliveries(
        self, webhook_id: str, state: int, page: Page
    ) -> tuple[list[DeliveryRecord], bool]:
        """Newest first, with each delivery's task progress."""
        select = (
            sa.select(deliveries, DELIVERY_STATE.label("state"), tasks.c.attempts,
                      tasks.c.result, tasks.c.last_error, tasks.c.end_time)
            .select_from(deliveries.join(tasks, tasks.c.id == deliveries.c.task_id))
            .where(deliveries.c.webhook_id == webhook_id)
        )  # fmt: skip
        if state:
            select = select.where(DELIVERY_STATE.in_([state]))
        if page.cursor is not None:
            select = select.where(DELIVERY_ORDER.after(page.cursor))
        select = select.order_by(*DELIVERY_ORDER.clauses()).limit(page.size + 1)

        def run(connection: Connection) -> list[DeliveryRecord]:
            return [DeliveryRecord.from_row(row) for row in connection.execute(select)]

        found = await self._db.read(run)
        return found[: page.size], len(found) > page.size

    async def _webhooks(self, *where: sa.ColumnElement[bool]) -> list[WebhookRecord]:
        failures, last = _figures()
        figures = failures.label("consecutive_failures"), last.label("last_delivery_time")
        select = sa.select(webhooks, *figures).where(*where).order_by(*ORDER.clauses())
        return await self._db.read(functools.partial(self._all, select))

    @staticmethod
    def _all(select: sa.Select[Any], connection: Connection) -> list[WebhookRecord]:
        return [WebhookRecord.from_row(row) for row in connection.execute(select)]


def _row(record: WebhookRecord) -> dict[str, Any]:
    row = {c.name: getattr(record, c.name) for c in webhooks.columns}
    row["event_subjects"] = json.dumps(record.event_subjects)
    return row
