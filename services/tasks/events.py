"""Names and builders shared by the scheduler and the workers for their NATS protocol."""

from __future__ import annotations

from google.protobuf.message import Message
from nats.aio.msg import Msg

from voka.bus import EVENT_TYPE
from voka.tasks.v1 import events_pb2, tasks_pb2

LIFECYCLE_SUBJECTS = "voka.tasks.task.*"  # submitted, started, succeeded, ... (4 tokens)
LIFECYCLE_TYPES: dict[str, type[Message]] = {
    cls.DESCRIPTOR.full_name: cls
    for cls in (
        events_pb2.TaskSubmittedEvent,
        events_pb2.TaskStartedEvent,
        events_pb2.TaskSucceededEvent,
        events_pb2.TaskFailedEvent,
        events_pb2.TaskDeadLetteredEvent,
        events_pb2.TaskCancelledEvent,
    )
}


def lifecycle_event(msg: Msg) -> Message | None:
    """The lifecycle event a message on LIFECYCLE_SUBJECTS carries; None for any other type."""
    kind = LIFECYCLE_TYPES.get((msg.headers or {}).get(EVENT_TYPE, ""))
    return None if kind is None else kind.FromString(msg.data)


def is_about(msg: Msg, task: str) -> bool:
    """Whether a message on LIFECYCLE_SUBJECTS is a lifecycle event of `task` (`tasks/{id}`):
    what wakes a WatchTask stream."""
    event = lifecycle_event(msg)
    return event is not None and getattr(event, "task", "") == task


def is_owned_by(msg: Msg, owner: str | None) -> bool:
    """Whether a message on LIFECYCLE_SUBJECTS is a lifecycle event of a task of `owner` (None:
    of anyone's): what wakes a StreamTaskUpdates stream."""
    event = lifecycle_event(msg)
    return event is not None and (owner is None or getattr(event, "owner", "") == owner)


def type_token(worker_type: tasks_pb2.WorkerType.ValueType) -> str:
    """`WORKER_TYPE_CPU_INTENSIVE` → `cpu_intensive`: the dispatch subject's routing token."""
    return tasks_pb2.WorkerType.Name(worker_type).removeprefix("WORKER_TYPE_").lower()


def parse_worker_type(name: str) -> tasks_pb2.WorkerType.ValueType:
    """`GENERAL_PURPOSE`, `general_purpose` or `WORKER_TYPE_GENERAL_PURPOSE` → its value."""
    upper = name.strip().upper()
    full = upper if upper.startswith("WORKER_TYPE_") else f"WORKER_TYPE_{upper}"
    return tasks_pb2.WorkerType.Value(full)
