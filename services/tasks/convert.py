"""Records → contract messages."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from google.protobuf import json_format, struct_pb2

from services.tasks.records import WAITING_STATES, AttemptError, TaskRecord
from services.tasks.registry import TaskFunction
from voka.tasks.v1 import tasks_pb2
from voka.wellknown import duration, timestamp

NO_WORKER = "NoWorker"  # the type of the condition a task without a worker shows


def json_value(value: Any) -> struct_pb2.Value:
    """A plain JSON value as a protobuf Value: scalars (a task's usual result) directly,
    nested ones through json_format."""
    if value is None:
        return struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if isinstance(value, bool):
        return struct_pb2.Value(bool_value=value)
    if isinstance(value, str):
        return struct_pb2.Value(string_value=value)
    if isinstance(value, int | float):
        return struct_pb2.Value(number_value=value)
    message = struct_pb2.Value()
    json_format.ParseDict(value, message)
    return message


def task_error(error: AttemptError) -> tasks_pb2.TaskError:
    message = tasks_pb2.TaskError(
        message=error.message, type=error.type, retryable=error.retryable,
        attempt=error.attempt, worker=error.worker, details=error.details,
    )  # fmt: skip
    if error.time:
        message.time.CopyFrom(timestamp(datetime.fromisoformat(error.time)))
    return message


def task(record: TaskRecord, full: bool = True, staffed: bool = True) -> tasks_pb2.Task:
    """The Task resource, in the state callers see (`TaskRecord.shown_state`); BASIC view
    (`full=False`) leaves out arguments and result. A waiting task whose pool has no live
    worker (`staffed` False) says so in `last_error`, unless an attempt left a real one."""
    state = record.shown_state
    message = tasks_pb2.Task(
        name=record.name, function_name=record.function_name, priority=record.priority,
        worker_type=record.worker_type, idempotency_key=record.idempotency_key or "",
        max_attempts=record.max_attempts, shard_key=record.shard_key, shard=record.shard,
        state=state, attempts=record.attempts, owner=record.owner, worker=record.worker,
        cancel_requested=record.cancel_requested,
        attempt_timeout=duration(record.attempt_timeout),
    )  # fmt: skip
    _times(message, record)
    if record.last_error is not None:
        message.last_error.CopyFrom(task_error(record.last_error))
    elif not staffed and state in WAITING_STATES:
        message.last_error.CopyFrom(no_worker(record))
    if full and record.args is not None:
        json_format.ParseDict(record.args, message.args)
    if full and record.has_result:
        message.result.CopyFrom(json_value(record.result))
    return message


def no_worker(record: TaskRecord) -> tasks_pb2.TaskError:
    """Why a task waits while its pool has no worker (a condition, not a failed attempt: the
    contract has no field of its own for it yet)."""
    pool = tasks_pb2.WorkerType.Name(record.worker_type).removeprefix("WORKER_TYPE_")
    return tasks_pb2.TaskError(
        type=NO_WORKER, retryable=True, attempt=record.attempts,
        message=f"no worker for {pool}: the task waits until a worker of this pool runs",
    )  # fmt: skip


def _times(message: tasks_pb2.Task, record: TaskRecord) -> None:
    for field in ("not_before_time", "deadline_time", "create_time", "start_time", "end_time",
                  "next_attempt_time", "update_time"):  # fmt: skip
        value = getattr(record, field)
        if value is not None:
            getattr(message, field).CopyFrom(timestamp(value))


def dead_letter(record: TaskRecord) -> tasks_pb2.DeadLetter:
    message = tasks_pb2.DeadLetter(
        name=f"dead-letters/{record.id}", task=record.name, function_name=record.function_name,
        priority=record.priority, worker_type=record.worker_type, shard=record.shard,
        owner=record.owner, reason=record.dead_letter_reason, attempts=record.attempts,
        retry_count=record.dead_letter_retries, task_create_time=timestamp(record.create_time),
    )  # fmt: skip
    if record.last_error is not None:
        message.last_error.CopyFrom(task_error(record.last_error))
    if record.dead_letter_time is not None:
        message.create_time.CopyFrom(timestamp(record.dead_letter_time))
    return message


def task_function(function: TaskFunction) -> tasks_pb2.TaskFunction:
    message = tasks_pb2.TaskFunction(
        name=f"task-functions/{function.name}", function_name=function.name,
        description=function.description, worker_type=function.worker_type,
        default_max_attempts=function.max_attempts,
        default_attempt_timeout=duration(function.attempt_timeout),
        idempotent=function.idempotent, demo=function.demo,
    )  # fmt: skip
    message.args_schema.CopyFrom(function.args_schema_struct)
    if function.result_schema_struct is not None:
        message.result_schema.CopyFrom(function.result_schema_struct)
    return message


def to_python(value: struct_pb2.Value) -> Any:
    """A protobuf JSON value as plain Python (dict, list, float, str, bool, None), as
    `json_format.MessageToDict` gives it, without its walk through descriptors: every task's
    arguments and result go through here."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        if not math.isfinite(value.number_value):
            raise ValueError("Infinity and NaN are not JSON numbers")
        return value.number_value
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_python(value.struct_value)
    if kind == "list_value":
        return [to_python(item) for item in value.list_value.values]
    return None  # null_value, or unset


def struct_to_python(struct: struct_pb2.Struct) -> dict[str, Any]:
    """A protobuf Struct as a plain dict (see `to_python`)."""
    return {key: to_python(item) for key, item in struct.fields.items()}
