"""The task table and its rows as plain records (the store's vocabulary)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import sqlalchemy as sa

from voka.tasks.v1 import tasks_pb2
from voka.wellknown import utc

Priority: TypeAlias = tasks_pb2.Priority.ValueType
WorkerType: TypeAlias = tasks_pb2.WorkerType.ValueType
TaskState: TypeAlias = tasks_pb2.TaskState.ValueType
DeadLetterReason: TypeAlias = tasks_pb2.DeadLetterReason.ValueType

metadata = sa.MetaData()

tasks = sa.Table(
    "tasks_tasks",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("function_name", sa.String(200), nullable=False),
    sa.Column("args", sa.Text()),
    sa.Column("raw_args", sa.LargeBinary()),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("worker_type", sa.Integer(), nullable=False),
    sa.Column("idempotency_key", sa.String(128)),
    sa.Column("not_before_time", sa.DateTime(timezone=True)),
    sa.Column("deadline_time", sa.DateTime(timezone=True)),
    sa.Column("attempt_timeout", sa.Float(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("shard_key", sa.String(200), nullable=False),
    sa.Column("shard", sa.Integer(), nullable=False),
    sa.Column("state", sa.Integer(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("dispatch_id", sa.String(32)),
    sa.Column("last_error", sa.Text()),
    sa.Column("result", sa.Text()),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("dead_letter_reason", sa.Integer(), nullable=False),
    sa.Column("dead_letter_time", sa.DateTime(timezone=True)),
    sa.Column("dead_letter_retries", sa.Integer(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True)),
    sa.Column("end_time", sa.DateTime(timezone=True)),
    sa.Column("next_attempt_time", sa.DateTime(timezone=True)),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("purge_time", sa.DateTime(timezone=True)),  # a purged dead letter
    sa.Column("traceparent", sa.String(64)),  # the submit's trace context, for every attempt
)

shard_leases = sa.Table(
    "tasks_shard_leases",
    metadata,
    sa.Column("shard", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("owner", sa.String(200)),
    sa.Column("epoch", sa.BigInteger(), nullable=False),
    sa.Column("expire_time", sa.DateTime(timezone=True)),
)

replicas = sa.Table(
    "tasks_replicas",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("heartbeat_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("draining", sa.Boolean(), nullable=False),
)

pauses = sa.Table(
    "tasks_pauses",
    metadata,
    sa.Column("kind", sa.String(16), primary_key=True),
    sa.Column("value", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)
SHARD, WORKER_TYPE = "shard", "worker_type"  # kinds of pause

pools = sa.Table(
    "tasks_pools",
    metadata,
    sa.Column("worker_type", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("min_workers", sa.Integer(), nullable=False),
    sa.Column("max_workers", sa.Integer(), nullable=False),
    sa.Column("desired_workers", sa.Integer(), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

FINAL_STATES = frozenset(
    {
        tasks_pb2.TASK_STATE_SUCCEEDED,
        tasks_pb2.TASK_STATE_DEAD_LETTERED,
        tasks_pb2.TASK_STATE_CANCELLED,
    }
)
WAITING_STATES = frozenset(
    {
        tasks_pb2.TASK_STATE_SCHEDULED,
        tasks_pb2.TASK_STATE_QUEUED,
        tasks_pb2.TASK_STATE_RETRYING,
    }
)


@dataclass(frozen=True)
class AttemptError:
    """A failed attempt's error (the contract's TaskError), stored as JSON."""

    message: str
    type: str
    retryable: bool
    attempt: int
    worker: str = ""
    time: str = ""  # ISO 8601
    details: str = ""

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str | None) -> AttemptError | None:
        return None if not text else cls(**json.loads(text))


@dataclass(frozen=True)
class TaskRecord:
    """One row of `tasks_tasks`, times in UTC."""

    id: str
    owner: str
    function_name: str
    args: dict[str, Any] | None
    raw_args: bytes | None
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
    attempts: int
    dispatch_id: str | None
    last_error: AttemptError | None
    result: Any
    has_result: bool
    worker: str
    cancel_requested: bool
    dead_letter_reason: DeadLetterReason
    dead_letter_time: datetime | None
    dead_letter_retries: int
    create_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    next_attempt_time: datetime | None
    update_time: datetime
    purge_time: datetime | None
    traceparent: str | None = None

    @property
    def name(self) -> str:
        return f"tasks/{self.id}"

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def shown_state(self) -> TaskState:
        """The state callers see. A hand-out is RUNNING in the row (so its attempt is fenced
        and counted) from the moment it is dispatched, but until a worker has taken it (its
        STARTED report, or a heartbeat listing it, sets `start_time`) it still waits, in
        JetStream, for a worker: it shows QUEUED."""
        if self.state == tasks_pb2.TASK_STATE_RUNNING and self.start_time is None:
            return tasks_pb2.TASK_STATE_QUEUED
        return self.state

    @property
    def ready_time(self) -> datetime:
        """When it may run: its retry time, not-before time, or submit."""
        return self.next_attempt_time or self.not_before_time or self.create_time

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> TaskRecord:
        values = dict(row._mapping)
        for key, value in values.items():
            if isinstance(value, datetime):
                values[key] = utc(value)
        values["args"] = None if values["args"] is None else json.loads(values["args"])
        values["has_result"] = values["result"] is not None
        values["result"] = None if values["result"] is None else json.loads(values["result"])
        values["last_error"] = AttemptError.from_json(values["last_error"])
        return cls(**values)
