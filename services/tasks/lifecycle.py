"""Lifecycle events (what WatchTask and other consumers follow) and how a failed attempt is
judged: built from the task as the database holds it after the change."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message

from services.tasks import convert
from services.tasks.changes import Accepted, Handout, Progress
from services.tasks.records import AttemptError, DeadLetterReason, TaskRecord
from voka import wellknown
from voka.tasks.v1 import events_pb2, tasks_pb2


def started_event(
    task: Handout, worker: str, start: datetime | None
) -> events_pb2.TaskStartedEvent:
    """An attempt of `task` started on `worker`."""
    event = events_pb2.TaskStartedEvent(task=task.name, function_name=task.function_name,
                                        attempt=task.attempts, worker=worker,
                                        worker_type=task.worker_type, shard=task.shard,
                                        owner=task.owner)  # fmt: skip
    if start is not None:
        event.start_time.CopyFrom(wellknown.timestamp(start))
    return event


def succeeded_event(task: Handout, done: Progress) -> events_pb2.TaskSucceededEvent:
    """The attempt of `task` that `done` reports succeeded (its result is in GetTask)."""
    event = events_pb2.TaskSucceededEvent(task=task.name, function_name=task.function_name,
                                          attempt=task.attempts, worker=done.worker,
                                          owner=task.owner)  # fmt: skip
    if done.end_time is not None:
        event.end_time.CopyFrom(wellknown.timestamp(done.end_time))
        event.run_time.CopyFrom(
            wellknown.duration((done.end_time - done.start_time).total_seconds())
        )
    return event


def submitted_event(record: Accepted) -> events_pb2.TaskSubmittedEvent:
    """The task was accepted (emitted for shards another replica serves: their owner's hint)."""
    event = events_pb2.TaskSubmittedEvent(
        task=record.name, function_name=record.function_name, priority=record.priority,
        worker_type=record.worker_type, shard=record.shard, owner=record.owner,
        create_time=wellknown.timestamp(record.create_time),
    )  # fmt: skip
    if record.ready_time != record.create_time:
        event.not_before_time.CopyFrom(wellknown.timestamp(record.ready_time))
    return event


def lifecycle_event(record: TaskRecord) -> Message | None:
    """The event for the state the task just reached."""
    s, name = record.state, record.name
    if s == tasks_pb2.TASK_STATE_RUNNING:
        return started_event(Handout.of(record), record.worker, record.start_time)
    if s == tasks_pb2.TASK_STATE_SUCCEEDED:
        return events_pb2.TaskSucceededEvent(task=name, function_name=record.function_name,
                                             attempt=record.attempts, worker=record.worker,
                                             owner=record.owner)  # fmt: skip
    error = convert.task_error(record.last_error) if record.last_error else None
    if s == tasks_pb2.TASK_STATE_RETRYING:
        return events_pb2.TaskFailedEvent(task=name, function_name=record.function_name,
                                          attempt=record.attempts, owner=record.owner, error=error,
                                          will_retry=True)  # fmt: skip
    if s == tasks_pb2.TASK_STATE_DEAD_LETTERED:
        return events_pb2.TaskDeadLetteredEvent(
            task=name, dead_letter=f"dead-letters/{record.id}",
            function_name=record.function_name, owner=record.owner,
            reason=record.dead_letter_reason, attempts=record.attempts, last_error=error,
        )  # fmt: skip
    if s == tasks_pb2.TASK_STATE_CANCELLED:
        return events_pb2.TaskCancelledEvent(task=name, function_name=record.function_name,
                                             owner=record.owner,
                                             was_running=record.attempts > 0)  # fmt: skip
    return None


def dead_letter_reason(
    record: TaskRecord, error: AttemptError, at: datetime
) -> DeadLetterReason | None:
    """Why this failure ends the task, or None when another attempt follows."""
    if error.type == "UnknownFunction":
        return tasks_pb2.DEAD_LETTER_REASON_UNKNOWN_FUNCTION
    if not error.retryable:
        return tasks_pb2.DEAD_LETTER_REASON_NON_RETRYABLE
    if record.deadline_time is not None and record.deadline_time <= at:
        return tasks_pb2.DEAD_LETTER_REASON_DEADLINE_EXCEEDED
    if record.attempts >= record.max_attempts:
        return tasks_pb2.DEAD_LETTER_REASON_MAX_ATTEMPTS
    return None


def attempt_error(report: events_pb2.AttemptReport, worker: str) -> AttemptError:
    if report.phase == events_pb2.ATTEMPT_PHASE_CANCELLED:
        return AttemptError(message="attempt stopped after a cancel", type="Cancelled",
                            retryable=False, attempt=report.attempt, worker=worker)  # fmt: skip
    error = report.error
    return AttemptError(
        message=error.message, type=error.type or "Error", retryable=error.retryable,
        attempt=report.attempt, worker=worker, details=error.details[:8192],
        time=error.time.ToDatetime(tzinfo=UTC).isoformat() if error.HasField("time") else "",
    )  # fmt: skip
