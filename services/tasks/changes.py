"""What the task store is asked to write and to find: new tasks, hand-outs, attempts and
their reports, and list filters (plain values; `store.py` turns them into statements)."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from services.tasks.lease_store import Fence
from services.tasks.records import Priority, TaskRecord, TaskState, WorkerType, tasks
from voka.tasks.v1 import tasks_pb2


@dataclass(frozen=True)
class NewTask:
    """A validated submit, ready to insert; once inserted it also stands for the task (its
    answer to the caller, its place in the queues) without reading anything back."""

    id: str
    owner: str
    function_name: str
    args: str | None  # the text of a JSON object, made once, as stored and as dispatched
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
    traceparent: str | None = None  # the submit's trace context (W3C), when it was traced

    @property
    def name(self) -> str:
        return f"tasks/{self.id}"

    @property
    def final(self) -> bool:
        return False  # a new task is queued or scheduled

    @property
    def ready_time(self) -> datetime:
        return self.not_before_time or self.create_time

    def record(self) -> TaskRecord:
        """The task as inserted (what reading the row back would give)."""
        args = None if self.args is None else json.loads(self.args)
        return TaskRecord(**{**self.__dict__, "args": args}, **_NEW, **_UNSET,
                          update_time=self.create_time, has_result=False)  # fmt: skip

    def row(self) -> dict[str, Any]:
        """The columns to insert; those a new task leaves NULL (`_UNSET`) are left out."""
        return {**self.__dict__, **_NEW, "update_time": self.create_time}


_NEW: dict[str, Any] = {  # a new task's own values of the columns NewTask does not carry
    "attempts": 0,
    "worker": "",
    "cancel_requested": False,
    "dead_letter_reason": tasks_pb2.DEAD_LETTER_REASON_UNSPECIFIED,
    "dead_letter_retries": 0,
}
_UNSET: dict[str, Any] = dict.fromkeys(  # columns a new task leaves NULL, not inserted
    ("raw_args", "dispatch_id", "last_error", "result", "start_time", "end_time",
     "next_attempt_time", "dead_letter_time", "purge_time")
)  # fmt: skip
ROW_KEYS = (*(f.name for f in fields(NewTask)), *_NEW, "update_time")  # the keys of `row()`


@dataclass(slots=True)
class Handout:
    """What dispatching needs of a task (fewer columns than a TaskRecord: cheaper to read).
    A queued task carries one from when it was queued, so handing it out reads nothing back
    but its new attempt count; the hand-out fills in `attempts` and `dispatch_id`."""

    id: str
    shard: int
    attempts: int
    dispatch_id: str
    function_name: str
    args: str | None  # JSON text, as stored
    priority: Priority
    worker_type: WorkerType
    idempotency_key: str | None
    owner: str
    attempt_timeout: float
    deadline_time: datetime | None
    not_before_time: datetime | None
    create_time: datetime
    traceparent: str | None

    @property
    def name(self) -> str:
        return f"tasks/{self.id}"

    @classmethod
    def of(cls, task: TaskRecord | NewTask) -> Handout:
        """The task's hand-out as it stands (its last attempt, if any)."""
        values: dict[str, Any] = {name: getattr(task, name, None) for name in _HANDOUT_FIELDS}
        if isinstance(task, NewTask):
            return cls(**{**values, "attempts": 0, "dispatch_id": ""})
        args = None if task.args is None else json.dumps(task.args)
        return cls(**{**values, "dispatch_id": task.dispatch_id or "", "args": args})


_HANDOUT_FIELDS = tuple(f.name for f in fields(Handout))
Accepted = NewTask | TaskRecord  # a submit's task: the new one inserted, or the one its key names
HANDOUT_COLUMNS = [tasks.c[f.name] for f in fields(Handout)]


@dataclass(frozen=True)
class Attempt:
    """A task's running attempt, as the replica holding its shard knows it."""

    task_id: str
    dispatch_id: str
    fence: Fence

    def condition(self) -> sa.ColumnElement[bool]:
        """Still this attempt (anything else is a stale report), on a shard still held."""
        return sa.and_(
            tasks.c.id == self.task_id,
            tasks.c.state == tasks_pb2.TASK_STATE_RUNNING,
            tasks.c.dispatch_id == self.dispatch_id,
            self.fence.condition(),
        )


@dataclass(frozen=True)
class Progress:
    """A STARTED or SUCCEEDED report of one attempt (with `succeeded`, its result)."""

    task_id: str
    dispatch_id: str
    shard: int
    worker: str
    start_time: datetime
    succeeded: bool = False
    result: Any = None
    end_time: datetime | None = None
    started: bool = True  # a STARTED report, or a success folding its STARTED in

    def params(self, at: datetime) -> dict[str, Any]:
        done = self.succeeded
        return {
            "b_id": self.task_id,
            "b_dispatch": self.dispatch_id,
            "b_state": tasks_pb2.TASK_STATE_SUCCEEDED if done else tasks_pb2.TASK_STATE_RUNNING,
            "b_worker": self.worker,
            "b_start": self.start_time,
            "b_end": (self.end_time or at) if done else None,
            "b_result": json.dumps(self.result) if done else None,
            "b_at": at,
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
    dead_letters: bool = False  # dead letters not purged
    before: datetime | None = None  # dead-lettered before
    ids: tuple[str, ...] = ()
    after: tuple[datetime, str] | None = None
    limit: int = 50
