"""Task persistence. Every state change is one conditional UPDATE (`WHERE state = ...` and,
for attempt outcomes, `AND dispatch_id = ...`), so a stale or repeated report, or two replicas
racing after a failover, change nothing: the first writer wins and the others see no row.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.tasks.changes import (
    HANDOUT_COLUMNS,
    ROW_KEYS,
    Accepted,
    Attempt,
    Handout,
    NewTask,
    Progress,
    TaskQuery,
)
from services.tasks.lease_store import Fence
from services.tasks.prepared import Prepared
from services.tasks.ready_queues import Item
from services.tasks.records import (
    WAITING_STATES,
    AttemptError,
    TaskRecord,
    TaskState,
    tasks,
)
from voka.tasks.v1 import tasks_pb2
from voka.transactions import Transactions
from voka.wellknown import utc


class TaskStore:
    """The task table, in the service's `transactions` (the kit's, `Resources.transactions`),
    which the lease, pool and webhook stores and the outbox relay share: on SQLite every write
    of the service goes through one writer thread (`voka/transactions.py`)."""

    def __init__(self, transactions: Transactions) -> None:
        self.transactions = transactions

    async def submit(self, batch: Sequence[NewTask]) -> list[tuple[Accepted, bool]]:
        """Insert the batch in one transaction; an item whose (owner, idempotency key) is
        known returns the known task with `True` (deduplicated), a new one itself with
        `False`. The insert comes first and
        skips key conflicts, so the transaction takes SQLite's write lock before it reads
        (a read-then-write transaction fails at once when another writer got in between)."""
        rows = [new.row() for new in batch]
        return await self.transactions.write(functools.partial(self._submit, batch, rows))

    async def get(self, task_id: str) -> TaskRecord | None:
        return await self.transactions.read(functools.partial(self._get, task_id=task_id))

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
        records = await self.transactions.read(functools.partial(self._records, select))
        return records[: query.limit], len(records) > query.limit

    async def count(self, query: TaskQuery) -> int:
        select = sa.select(sa.func.count()).select_from(tasks).where(*_filters(query))
        return int(await self.transactions.read(lambda c: c.execute(select).scalar_one()))

    async def unfinished_count(self, owner: str, functions: Sequence[str] = ()) -> int:
        """An owner's tasks not yet final (of these functions, if any are named): what the
        owner's quota counts. An index range over (owner, state)."""
        select = (
            sa.select(sa.func.count())
            .select_from(tasks)
            .where(tasks.c.owner == owner, tasks.c.state.in_(_UNFINISHED))
        )
        if functions:
            select = select.where(tasks.c.function_name.in_(functions))
        return int(await self.transactions.read(lambda c: c.execute(select).scalar_one()))

    async def unfinished(self, shards: Sequence[int]) -> list[TaskRecord]:
        """Tasks of these shards not in a final state: what a new owner rebuilds from."""
        states = [*WAITING_STATES, tasks_pb2.TASK_STATE_RUNNING]
        select = sa.select(tasks).where(tasks.c.shard.in_(shards), tasks.c.state.in_(states))
        return await self.transactions.read(functools.partial(self._records, select))

    async def waiting(self, shards: Sequence[int], since: datetime) -> list[str]:
        """Ids of the waiting tasks of these shards changed since `since`."""
        select = sa.select(tasks.c.id).where(
            tasks.c.shard.in_(shards), tasks.c.state.in_(list(WAITING_STATES)),
            tasks.c.update_time >= since,
        )  # fmt: skip
        return await self.transactions.read(lambda c: list(c.execute(select).scalars()))

    async def many(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        select = sa.select(tasks).where(tasks.c.id.in_(task_ids))
        return await self.transactions.read(functools.partial(self._records, select))

    async def mark_queued(self, task_ids: Sequence[str], now: datetime, fence: Fence) -> None:
        """SCHEDULED or RETRYING tasks whose time came are QUEUED."""
        waiting = [tasks_pb2.TASK_STATE_SCHEDULED, tasks_pb2.TASK_STATE_RETRYING]
        await self._update(
            sa.and_(tasks.c.id.in_(task_ids), tasks.c.state.in_(waiting), fence.condition()),
            state=tasks_pb2.TASK_STATE_QUEUED,
            update_time=now,
        )

    async def dispatch(
        self, items: Sequence[Item], dispatch_id: str, now: datetime, fence: Fence
    ) -> list[Handout]:
        """QUEUED → RUNNING for each task of a shard still held, counting the attempt, in one
        statement; its start is cleared until a worker takes it (callers see it QUEUED until
        then: `TaskRecord.shown_state`). The batch shares `dispatch_id` (new for every
        hand-out, so still unique per attempt). Returns the tasks that moved (a task cancelled
        meanwhile does not): from the hand-out each item carries, with the attempt count read
        back, or read whole where an item carries none (a task queued from another replica's
        hint)."""

        def run(connection: Connection) -> list[Handout]:
            held = fence.held(connection)
            ids = [item.task_id for item in items if item.shard in held]
            if not ids:
                return []
            values = {"ids": ids, "b_dispatch": dispatch_id, "b_at": now}
            moved = {
                task_id: attempts for task_id, attempts in connection.execute(_HANDOUT, values)
            }
            kept = {item.task_id: item.handout for item in items if item.handout is not None}
            missing = [task_id for task_id in moved if task_id not in kept]
            if missing:
                select = sa.select(*HANDOUT_COLUMNS).where(tasks.c.id.in_(missing))
                kept.update((row.id, self._handout(row)) for row in connection.execute(select))
            handouts = []
            for task_id in ids:  # in the order taken (best first), whatever RETURNING's
                if task_id in moved:
                    handout = kept[task_id]
                    handout.attempts, handout.dispatch_id = moved[task_id], dispatch_id
                    handouts.append(handout)
            return handouts

        return await self.transactions.write(run)

    async def progress(
        self, reports: Sequence[Progress], at: datetime, fence: Fence
    ) -> dict[str, TaskState]:
        """Apply STARTED and SUCCEEDED reports in one transaction (one executemany) and return
        the tasks they changed. Only a task's current attempt changes it: a stale or repeated
        report matches no row. The fence is checked once for the batch (the lease rows stay
        locked meanwhile); reports of shards no longer held are left out. The changed rows are
        told apart by `update_time == at`, read back inside the same transaction, which still
        holds their write locks; when every report matched its row, nothing is read back."""
        if not reports:
            return {}

        def apply(connection: Connection) -> list[tuple[str, str, TaskState]]:
            held = fence.held(connection)
            params = [report.params(at) for report in reports if report.shard in held]
            if not params:
                return []
            done = _PROGRESS.executemany(connection, params)
            if done == len(params) and connection.dialect.supports_sane_multi_rowcount:
                # Each report matches one row at most (by primary key): every one applied.
                return [(p["b_id"], p["b_dispatch"], p["b_state"]) for p in params]
            ids = [report.task_id for report in reports]
            marked = sa.select(tasks.c.id, tasks.c.dispatch_id, tasks.c.state).where(
                tasks.c.id.in_(ids), tasks.c.update_time == at
            )  # built only when needed: a statement costs more than a small round's writes
            return [tuple(row) for row in connection.execute(marked)]

        wanted = {(r.task_id, r.dispatch_id) for r in reports}
        rows = await self.transactions.write(apply)
        return {task: state for task, dispatch, state in rows if (task, dispatch) in wanted}

    async def retrying(
        self, current: Attempt, error: AttemptError, next_time: datetime, at: datetime
    ) -> bool:
        return await self._update(
            current.condition(),
            state=tasks_pb2.TASK_STATE_RETRYING,
            last_error=error.to_json(),
            next_attempt_time=next_time,
            update_time=at,
        )

    async def dead_lettered(
        self, current: Attempt, error: AttemptError, reason: int, at: datetime
    ) -> bool:
        return await self._update(
            current.condition(),
            state=tasks_pb2.TASK_STATE_DEAD_LETTERED,
            last_error=error.to_json(),
            dead_letter_reason=reason,
            dead_letter_time=at,
            end_time=at,
            update_time=at,
        )

    async def cancelled_running(
        self, current: Attempt, error: AttemptError | None, at: datetime
    ) -> bool:
        """A running attempt stopped (or failed) after a cancel was asked."""
        values: dict[str, Any] = {"state": tasks_pb2.TASK_STATE_CANCELLED, "end_time": at}
        if error is not None:
            values["last_error"] = error.to_json()
        return await self._update(current.condition(), **values, update_time=at)

    async def cancel(self, task_id: str, reason: str, at: datetime) -> bool:
        """A task not yet running is CANCELLED; a running one gets `cancel_requested`."""
        error = AttemptError(message=reason or "cancelled", type="Cancelled", retryable=False,
                             attempt=0, time=at.isoformat())  # fmt: skip
        waiting = sa.and_(tasks.c.id == task_id, tasks.c.state.in_(list(WAITING_STATES)))
        if await self._update(
            waiting, state=tasks_pb2.TASK_STATE_CANCELLED, end_time=at, update_time=at,
            last_error=error.to_json(),
        ):  # fmt: skip
            return True
        running = sa.and_(tasks.c.id == task_id, tasks.c.state == tasks_pb2.TASK_STATE_RUNNING)
        return await self._update(running, cancel_requested=True, update_time=at)

    async def requeue_dead_letter(
        self, task_id: str, max_attempts: int, priority: int, at: datetime
    ) -> bool:
        """DEAD_LETTERED → QUEUED with its attempts counted from 0 again."""
        values: dict[str, Any] = {"max_attempts": max_attempts} if max_attempts else {}
        if priority:
            values["priority"] = priority
        return await self._update(
            sa.and_(
                tasks.c.id == task_id,
                tasks.c.state == tasks_pb2.TASK_STATE_DEAD_LETTERED,
                tasks.c.purge_time.is_(None),
            ),
            **values,
            **_REQUEUED,
            dead_letter_retries=tasks.c.dead_letter_retries + 1,
            update_time=at,
        )

    async def requeue_dead_letters(self, query: TaskQuery, at: datetime) -> list[TaskRecord]:
        """Every dead letter matching `query` back to QUEUED (attempts from 0), in one
        statement; returns the tasks requeued."""
        update = (
            sa.update(tasks)
            .where(*_filters(query))
            .values(**_REQUEUED, dead_letter_retries=tasks.c.dead_letter_retries + 1,
                    update_time=at)
            .returning(*tasks.c)
        )  # fmt: skip
        return await self.transactions.write(functools.partial(self._records, update))

    async def purge_dead_letters(
        self, query: TaskQuery, force: bool, at: datetime, sample: int = 100
    ) -> tuple[int, list[str]]:
        """Count (and with `force`, purge) the dead letters matching `query`; returns the count
        and a few of their ids."""
        where = _filters(query)
        count = sa.select(sa.func.count()).select_from(tasks).where(*where)
        some = sa.select(tasks.c.id).where(*where).order_by(tasks.c.id).limit(sample)
        purge = sa.update(tasks).where(*where).values(purge_time=at, update_time=at)

        def run(connection: Connection) -> tuple[int, list[str]]:
            found = (int(connection.execute(count).scalar_one()),
                     list(connection.execute(some).scalars()))  # fmt: skip
            if force:
                connection.execute(purge)
            return found

        return await self.transactions.write(run)

    async def _update(self, where: sa.ColumnElement[bool], **values: Any) -> bool:
        update = sa.update(tasks).where(where).values(**values)
        return await self.transactions.write(lambda c: bool(c.execute(update).rowcount))

    @staticmethod
    def _submit(
        batch: Sequence[NewTask], rows: list[dict[str, Any]], connection: Connection
    ) -> list[tuple[Accepted, bool]]:
        _INSERTS[connection.dialect.name].executemany(connection, rows)
        keys = [new for new in batch if new.idempotency_key is not None]
        taken: set[str] = set()
        if keys:  # without a key nothing conflicts: every row went in
            ids = sa.select(tasks.c.id).where(tasks.c.id.in_([new.id for new in keys]))
            taken = {new.id for new in keys} - set(connection.execute(ids).scalars())
        known = TaskStore._by_keys(connection, [new for new in keys if new.id in taken])
        return [
            (known[(new.owner, new.idempotency_key)], True) if new.id in taken
            else (new, False)
            for new in batch
        ]  # fmt: skip

    @staticmethod
    def _by_keys(
        connection: Connection, batch: Sequence[NewTask]
    ) -> dict[tuple[str, str | None], TaskRecord]:
        if not batch:
            return {}
        owners = {new.owner for new in batch}
        keys = {new.idempotency_key for new in batch}
        found = TaskStore._select(
            connection, tasks.c.owner.in_(owners), tasks.c.idempotency_key.in_(keys)
        )
        return {(r.owner, r.idempotency_key): r for r in found}

    @staticmethod
    def _handout(row: sa.Row[Any]) -> Handout:
        values = dict(row._mapping)
        for key in ("deadline_time", "not_before_time", "create_time"):
            values[key] = values[key] and utc(values[key])
        return Handout(**values)

    @staticmethod
    def _records(statement: sa.Executable, connection: Connection) -> list[TaskRecord]:
        return [TaskRecord.from_row(row) for row in connection.execute(statement).all()]

    @staticmethod
    def _select(connection: Connection, *where: sa.ColumnElement[bool]) -> list[TaskRecord]:
        return TaskStore._records(sa.select(tasks).where(*where), connection)

    @staticmethod
    def _get(connection: Connection, task_id: str) -> TaskRecord | None:
        found = TaskStore._select(connection, tasks.c.id == task_id)
        return found[0] if found else None


_REQUEUED: dict[str, Any] = {
    "state": tasks_pb2.TASK_STATE_QUEUED,
    "attempts": 0,
    "dispatch_id": None,
    "cancel_requested": False,
    "dead_letter_reason": tasks_pb2.DEAD_LETTER_REASON_UNSPECIFIED,
    "dead_letter_time": None,
    "end_time": None,
    "next_attempt_time": None,
}


_UNFINISHED = [*WAITING_STATES, tasks_pb2.TASK_STATE_RUNNING]
_NOT_TAKEN = sa.and_(tasks.c.state == tasks_pb2.TASK_STATE_RUNNING, tasks.c.start_time.is_(None))
# The states callers see (`TaskRecord.shown_state`) that differ from the row's, as conditions.
_SHOWN: dict[int, sa.ColumnElement[bool]] = {
    tasks_pb2.TASK_STATE_QUEUED: sa.or_(tasks.c.state == tasks_pb2.TASK_STATE_QUEUED, _NOT_TAKEN),
    tasks_pb2.TASK_STATE_RUNNING: sa.and_(tasks.c.state == tasks_pb2.TASK_STATE_RUNNING,
                                          tasks.c.start_time.is_not(None)),
}  # fmt: skip


def _filters(query: TaskQuery) -> list[sa.ColumnElement[bool]]:
    state = tasks_pb2.TASK_STATE_DEAD_LETTERED if query.dead_letters else query.state
    wanted = {
        tasks.c.owner: query.owner or None,
        tasks.c.state: None if state in _SHOWN else state,
        tasks.c.priority: query.priority,
        tasks.c.worker_type: query.worker_type,
        tasks.c.function_name: query.function_name,
        tasks.c.idempotency_key: query.idempotency_key,
        tasks.c.dead_letter_reason: query.reason,
    }
    found = [column == value for column, value in wanted.items() if value]
    if state in _SHOWN:
        found.append(_SHOWN[state])
    if query.dead_letters:
        found.append(tasks.c.purge_time.is_(None))
    if query.before is not None:
        found.append(tasks.c.dead_letter_time < query.before)
    if query.ids:
        found.append(tasks.c.id.in_(query.ids))
    return found


_CONFLICT = [tasks.c.owner, tasks.c.idempotency_key]
_INSERTS = {  # new tasks, a known (owner, idempotency key) skipped
    "sqlite": Prepared(sqlite_insert(tasks).on_conflict_do_nothing(index_elements=_CONFLICT),
                       ROW_KEYS),
    "postgresql": Prepared(
        postgresql_insert(tasks).on_conflict_do_nothing(index_elements=_CONFLICT), ROW_KEYS
    ),
}  # fmt: skip
_HANDOUT = (  # a batch handed out; only the attempt count is read back
    sa.update(tasks)
    .where(tasks.c.id.in_(sa.bindparam("ids", expanding=True)),
           tasks.c.state == tasks_pb2.TASK_STATE_QUEUED)
    .values(state=tasks_pb2.TASK_STATE_RUNNING, attempts=tasks.c.attempts + 1,
            dispatch_id=sa.bindparam("b_dispatch"), next_attempt_time=None, start_time=None,
            update_time=sa.bindparam("b_at"))
    .returning(tasks.c.id, tasks.c.attempts)
)  # fmt: skip
_PROGRESS = Prepared(  # a STARTED or SUCCEEDED report, applied only to its current attempt
    sa.update(tasks)
    .where(tasks.c.id == sa.bindparam("b_id"), tasks.c.state == tasks_pb2.TASK_STATE_RUNNING,
           tasks.c.dispatch_id == sa.bindparam("b_dispatch"))
    .values(state=sa.bindparam("b_state"), worker=sa.bindparam("b_worker"),
            start_time=sa.bindparam("b_start"), end_time=sa.bindparam("b_end"),
            result=sa.bindparam("b_result"), update_time=sa.bindparam("b_at"))
)  # fmt: skip
