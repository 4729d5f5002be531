"""Task persistence. Every state change is one conditional UPDATE (`WHERE state = ...` and,
for attempt outcomes, `AND dispatch_id = ...`), so a stale or repeated report, or two replicas
racing after a failover, change nothing: the first writer wins and the others see no row.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.tasks.records import (
    WAITING_STATES,
    AttemptError,
    Priority,
    TaskRecord,
    TaskState,
    WorkerType,
    tasks,
)
from voka.tasks.v1 import tasks_pb2

S = tasks_pb2  # states, priorities, reasons


@dataclass(frozen=True)
class NewTask:
    """A validated submit, ready to insert."""

    id: str
    owner: str
    function_name: str
    args: dict[str, Any] | None
    priority: Priority
    worker_type: WorkerType
    idempotency_key: str | None
    not_before_time: datetime | None
    deadline_time: datetime | None
    attempt_timeout: float
    max_attempts: int
    shard_key: str
    shard: int
    state: TaskState
    create_time: datetime

    def row(self) -> dict[str, Any]:
        values = dict(self.__dict__)
        values["args"] = None if self.args is None else json.dumps(self.args)
        return {
            **values,
            "raw_args": None,
            "attempts": 0,
            "dispatch_id": None,
            "last_error": None,
            "result": None,
            "worker": "",
            "cancel_requested": False,
            "dead_letter_reason": S.DEAD_LETTER_REASON_UNSPECIFIED,
            "dead_letter_retries": 0,
            "update_time": self.create_time,
        }


@dataclass(frozen=True)
class TaskQuery:
    """ListTasks / ListDeadLetters filters; `owner` None means every owner (admins)."""

    owner: str | None
    state: int = 0
    priority: int = 0
    worker_type: int = 0
    function_name: str = ""
    idempotency_key: str = ""
    reason: int = 0
    dead_letters: bool = False
    after: tuple[datetime, str] | None = None
    limit: int = 50


class Store:
    """The task table, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def submit(self, batch: Sequence[NewTask]) -> list[tuple[TaskRecord, bool]]:
        """Insert the batch in one transaction; an item whose (owner, idempotency key) is
        known returns the known task with `True` (deduplicated). The insert comes first and
        skips key conflicts, so the transaction takes SQLite's write lock before it reads
        (a read-then-write transaction fails at once when another writer got in between)."""
        rows = [new.row() for new in batch]
        async with self._sessions() as session, session.begin():
            dialect = session.get_bind().dialect.name
            insert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(tasks)
            conflict = [tasks.c.owner, tasks.c.idempotency_key]
            await session.execute(insert.on_conflict_do_nothing(index_elements=conflict), rows)
            mine = await _select(session, tasks.c.id.in_([new.id for new in batch]))
            inserted = {record.id: record for record in mine}
            known = await self._by_keys(session, [n for n in batch if n.id not in inserted])
        return [
            (inserted[new.id], False)
            if new.id in inserted
            else (known[(new.owner, new.idempotency_key)], True)
            for new in batch
        ]

    async def _by_keys(
        self, session: AsyncSession, batch: Sequence[NewTask]
    ) -> dict[tuple[str, str | None], TaskRecord]:
        owners = {new.owner for new in batch}
        keys = {new.idempotency_key for new in batch}
        if not batch:
            return {}
        found = await _select(session, tasks.c.owner.in_(owners), tasks.c.idempotency_key.in_(keys))
        return {(r.owner, r.idempotency_key): r for r in found}

    async def get(self, task_id: str) -> TaskRecord | None:
        async with self._sessions() as session:
            return await _get(session, task_id)

    async def page(self, query: TaskQuery) -> tuple[list[TaskRecord], bool]:
        """A page newest first (by create time, or dead-letter time for the DLQ) and whether
        more follow."""
        order = tasks.c.dead_letter_time if query.dead_letters else tasks.c.create_time
        select = sa.select(tasks).where(*_filters(query))
        if query.after is not None:
            time, last_id = query.after
            select = select.where(
                sa.or_(order < time, sa.and_(order == time, tasks.c.id < last_id))
            )
        select = select.order_by(order.desc(), tasks.c.id.desc()).limit(query.limit + 1)
        async with self._sessions() as session:
            rows = (await session.execute(select)).all()
        records = [TaskRecord.from_row(r) for r in rows]
        return records[: query.limit], len(records) > query.limit

    async def count(self, query: TaskQuery) -> int:
        select = sa.select(sa.func.count()).select_from(tasks).where(*_filters(query))
        async with self._sessions() as session:
            return int((await session.execute(select)).scalar_one())

    async def unfinished(self, shards: Sequence[int]) -> list[TaskRecord]:
        """Tasks of these shards not in a final state: what a new owner rebuilds from."""
        states = [*WAITING_STATES, S.TASK_STATE_RUNNING]
        select = sa.select(tasks).where(tasks.c.shard.in_(shards), tasks.c.state.in_(states))
        async with self._sessions() as session:
            return [TaskRecord.from_row(r) for r in (await session.execute(select)).all()]

    async def mark_queued(self, task_ids: Sequence[str], now: datetime) -> None:
        """SCHEDULED or RETRYING tasks whose time came are QUEUED."""
        waiting = [S.TASK_STATE_SCHEDULED, S.TASK_STATE_RETRYING]
        await self._update(
            sa.and_(tasks.c.id.in_(task_ids), tasks.c.state.in_(waiting)),
            state=S.TASK_STATE_QUEUED,
            update_time=now,
        )

    async def dispatch(
        self, handouts: Sequence[tuple[str, str]], now: datetime
    ) -> list[TaskRecord]:
        """QUEUED → RUNNING for each (task id, dispatch id), counting the attempt; returns the
        tasks that moved (a task cancelled meanwhile does not)."""
        moved = []
        async with self._sessions() as session, session.begin():
            for task_id, dispatch_id in handouts:
                changed = await session.execute(
                    sa.update(tasks)
                    .where(tasks.c.id == task_id, tasks.c.state == S.TASK_STATE_QUEUED)
                    .values(
                        state=S.TASK_STATE_RUNNING,
                        attempts=tasks.c.attempts + 1,
                        dispatch_id=dispatch_id,
                        next_attempt_time=None,
                        update_time=now,
                    )
                )
                if changed.rowcount:  # type: ignore[attr-defined]
                    record = await _get(session, task_id)
                    assert record is not None
                    moved.append(record)
        return moved

    async def started(self, task_id: str, dispatch_id: str, worker: str, at: datetime) -> bool:
        return await self._update(
            _current(task_id, dispatch_id), worker=worker, start_time=at, update_time=at
        )

    async def succeeded(self, task_id: str, dispatch_id: str, result: Any, at: datetime) -> bool:
        return await self._update(
            _current(task_id, dispatch_id),
            state=S.TASK_STATE_SUCCEEDED,
            result=json.dumps(result),
            end_time=at,
            update_time=at,
        )

    async def retrying(
        self, task_id: str, dispatch_id: str, error: AttemptError, next_time: datetime, at: datetime
    ) -> bool:
        return await self._update(
            _current(task_id, dispatch_id),
            state=S.TASK_STATE_RETRYING,
            last_error=error.to_json(),
            next_attempt_time=next_time,
            update_time=at,
        )

    async def dead_lettered(
        self, task_id: str, dispatch_id: str, error: AttemptError, reason: int, at: datetime
    ) -> bool:
        return await self._update(
            _current(task_id, dispatch_id),
            state=S.TASK_STATE_DEAD_LETTERED,
            last_error=error.to_json(),
            dead_letter_reason=reason,
            dead_letter_time=at,
            end_time=at,
            update_time=at,
        )

    async def cancelled_running(
        self, task_id: str, dispatch_id: str, error: AttemptError | None, at: datetime
    ) -> bool:
        """A running attempt stopped (or failed) after a cancel was asked."""
        values: dict[str, Any] = {"state": S.TASK_STATE_CANCELLED, "end_time": at}
        if error is not None:
            values["last_error"] = error.to_json()
        return await self._update(_current(task_id, dispatch_id), **values, update_time=at)

    async def cancel(self, task_id: str, reason: str, at: datetime) -> bool:
        """A task not yet running is CANCELLED; a running one gets `cancel_requested`."""
        error = AttemptError(message=reason or "cancelled", type="Cancelled", retryable=False,
                             attempt=0, time=at.isoformat())  # fmt: skip
        waiting = sa.and_(tasks.c.id == task_id, tasks.c.state.in_(list(WAITING_STATES)))
        if await self._update(
            waiting, state=S.TASK_STATE_CANCELLED, end_time=at, update_time=at,
            last_error=error.to_json(),
        ):  # fmt: skip
            return True
        running = sa.and_(tasks.c.id == task_id, tasks.c.state == S.TASK_STATE_RUNNING)
        return await self._update(running, cancel_requested=True, update_time=at)

    async def requeue_dead_letter(
        self, task_id: str, max_attempts: int, priority: int, at: datetime
    ) -> bool:
        """DEAD_LETTERED → QUEUED with its attempts counted from 0 again."""
        values: dict[str, Any] = {"max_attempts": max_attempts} if max_attempts else {}
        if priority:
            values["priority"] = priority
        return await self._update(
            sa.and_(tasks.c.id == task_id, tasks.c.state == S.TASK_STATE_DEAD_LETTERED),
            **values,
            state=S.TASK_STATE_QUEUED,
            attempts=0,
            dispatch_id=None,
            cancel_requested=False,
            dead_letter_reason=S.DEAD_LETTER_REASON_UNSPECIFIED,
            dead_letter_time=None,
            dead_letter_retries=tasks.c.dead_letter_retries + 1,
            end_time=None,
            next_attempt_time=None,
            update_time=at,
        )

    async def _update(self, where: sa.ColumnElement[bool], **values: Any) -> bool:
        async with self._sessions() as session, session.begin():
            changed = await session.execute(sa.update(tasks).where(where).values(**values))
            return bool(changed.rowcount)  # type: ignore[attr-defined]


def _current(task_id: str, dispatch_id: str) -> sa.ColumnElement[bool]:
    """The task's running attempt is this one (anything else is a stale report)."""
    return sa.and_(
        tasks.c.id == task_id,
        tasks.c.state == S.TASK_STATE_RUNNING,
        tasks.c.dispatch_id == dispatch_id,
    )


def _filters(query: TaskQuery) -> list[sa.ColumnElement[bool]]:
    wanted = {
        tasks.c.owner: query.owner or None,
        tasks.c.state: S.TASK_STATE_DEAD_LETTERED if query.dead_letters else query.state,
        tasks.c.priority: query.priority,
        tasks.c.worker_type: query.worker_type,
        tasks.c.function_name: query.function_name,
        tasks.c.idempotency_key: query.idempotency_key,
        tasks.c.dead_letter_reason: query.reason,
    }
    return [column == value for column, value in wanted.items() if value]


async def _select(session: AsyncSession, *where: sa.ColumnElement[bool]) -> list[TaskRecord]:
    rows = (await session.execute(sa.select(tasks).where(*where))).all()
    return [TaskRecord.from_row(row) for row in rows]


async def _get(session: AsyncSession, task_id: str) -> TaskRecord | None:
    row = (await session.execute(sa.select(tasks).where(tasks.c.id == task_id))).first()
    return None if row is None else TaskRecord.from_row(row)
