"""Request checks: submits become validated `NewTask`s, or every field violation at once;
resource names, dead-letter retries and filters are checked the same way. What only some
callers may ask for (an internal function, CRITICAL priority) is a refusal of its own,
PERMISSION_DENIED naming the fields, checked before anything else about the request."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import grpc
from google.rpc import error_details_pb2

from services.tasks.changes import NewTask
from services.tasks.convert import struct_to_python
from services.tasks.policy import Placement
from services.tasks.registry import Registry, TaskFunction
from voka import errors, telemetry
from voka.errors import FieldViolation, VokaError
from voka.tasks.v1 import tasks_pb2

MAX_BATCH = 1000  # submits per request (or per stream message)
MAX_KEY = 128
MAX_SHARD_KEY = 200
MAX_ATTEMPTS = 100
MIN_TIMEOUT = timedelta(seconds=1)
MAX_TIMEOUT = timedelta(hours=24)
PRIORITIES = frozenset(tasks_pb2.Priority.values())  # the enum wrapper builds a list per call
WORKER_TYPES = frozenset(tasks_pb2.WorkerType.values())
LIVE_PAGE = 20  # StreamTaskUpdates' default page
MAX_LIVE_PAGE = 100


class TaskIds:
    """Random task ids (128 bits, hex), read from the OS's random source a block at a time:
    `secrets.token_hex` makes a system call per id, which costs more than the rest of a
    submit's checks. A forked child draws a block of its own, never its parent's (the block
    is dropped at fork, not checked against the pid per id: `getpid` is a system call too)."""

    def __init__(self, block: int = 256) -> None:
        self._size = 32 * block  # hex digits
        self._block = ""
        self._at = self._size
        os.register_at_fork(after_in_child=self._drop)

    def next(self) -> str:
        if self._at >= self._size:
            self._block, self._at = os.urandom(self._size // 2).hex(), 0
        self._at += 32
        return self._block[self._at - 32 : self._at]

    def _drop(self) -> None:
        self._block, self._at = "", self._size


_IDS = TaskIds()


class Submits:
    """Checks submits against the registry and turns them into rows."""

    def __init__(self, registry: Registry, placement: Placement) -> None:
        self._registry = registry
        self._placement = placement

    def forbidden(
        self, request: tasks_pb2.SubmitTaskRequest, trusted: bool, path: str = ""
    ) -> list[FieldViolation]:
        """What this caller may not ask for: an internal function (no caller, the service
        queues those itself), CRITICAL priority (`trusted` callers only: admins, services)."""
        problems = []
        function = self._registry.get(request.function_name)
        if function is not None and function.internal:
            problems.append(FieldViolation(
                f"{path}function_name", f"{function.name} is internal: only the tasks service "
                "queues it",
            ))  # fmt: skip
        if request.priority == tasks_pb2.PRIORITY_CRITICAL and not trusted:
            problems.append(critical(f"{path}priority"))
        return problems

    def check(
        self,
        request: tasks_pb2.SubmitTaskRequest,
        owner: str,
        now: datetime,
        path: str = "",
        *,
        trace: str | None,
    ) -> tuple[NewTask | None, list[FieldViolation]]:
        """The submit as a row, or its field violations; `trace` is the submitting call's
        `traceparent()`, read once per call (not per item of a batch or stream)."""
        function = self._registry.get(request.function_name)
        problems = _function_problems(request, function, path)
        args: dict[str, Any] = {}
        if request.HasField("args"):
            args = struct_to_python(request.args)
        if function is not None and not request.HasField("raw_args"):
            problems += function.check(args, f"{path}args")
        problems += _option_problems(request, now, path)
        if problems or function is None:
            return None, problems
        return self._new_task(request, function, args, owner, now, trace=trace), []

    def _new_task(
        self,
        request: tasks_pb2.SubmitTaskRequest,
        function: TaskFunction,
        args: dict[str, Any],
        owner: str,
        now: datetime,
        *,
        trace: str | None,
    ) -> NewTask:
        task_id = _IDS.next()
        not_before = _time(request, "not_before_time")
        later = not_before is not None and not_before > now
        timeout = function.attempt_timeout
        if request.HasField("attempt_timeout"):
            timeout = request.attempt_timeout.ToTimedelta().total_seconds()
        return NewTask(
            id=task_id,
            owner=owner,
            function_name=function.name,
            args=json.dumps(args),
            priority=request.priority or tasks_pb2.PRIORITY_NORMAL,
            worker_type=request.worker_type or function.worker_type,
            idempotency_key=request.idempotency_key or None,
            not_before_time=not_before if later else None,
            deadline_time=_time(request, "deadline_time"),
            attempt_timeout=timeout,
            max_attempts=request.max_attempts or function.max_attempts,
            shard_key=request.shard_key,
            shard=self._placement.shard(request.shard_key, task_id),
            state=tasks_pb2.TASK_STATE_SCHEDULED if later else tasks_pb2.TASK_STATE_QUEUED,
            create_time=now,
            traceparent=trace,
        )


def traceparent() -> str | None:
    """The current trace as the `traceparent` a task carries to its attempts' spans: read
    once per submitting call and shared by its items (the propagator builds a carrier each
    time, which a 500-task stream message need not pay 500 times)."""
    return telemetry.inject().get("traceparent")


def _function_problems(
    request: tasks_pb2.SubmitTaskRequest, function: TaskFunction | None, path: str
) -> list[FieldViolation]:
    if not request.function_name:
        return [FieldViolation(f"{path}function_name", "is required")]
    if function is None:
        return [FieldViolation(f"{path}function_name", "is not a registered task function")]
    if request.HasField("raw_args"):
        return [FieldViolation(f"{path}raw_args", "this function takes args, not raw_args")]
    return []


def _option_problems(
    request: tasks_pb2.SubmitTaskRequest, now: datetime, path: str
) -> list[FieldViolation]:
    problems = []
    if request.priority not in PRIORITIES:
        problems.append(FieldViolation(f"{path}priority", "is not a priority"))
    if request.worker_type not in WORKER_TYPES:
        problems.append(FieldViolation(f"{path}worker_type", "is not a worker type"))
    if len(request.idempotency_key) > MAX_KEY:
        problems.append(FieldViolation(f"{path}idempotency_key", f"at most {MAX_KEY} characters"))
    if len(request.shard_key) > MAX_SHARD_KEY:
        problems.append(FieldViolation(f"{path}shard_key", f"at most {MAX_SHARD_KEY} characters"))
    if not 0 <= request.max_attempts <= MAX_ATTEMPTS:
        problems.append(FieldViolation(f"{path}max_attempts", f"must be 1 to {MAX_ATTEMPTS}"))
    if request.HasField("attempt_timeout"):
        timeout = request.attempt_timeout.ToTimedelta()
        if not MIN_TIMEOUT <= timeout <= MAX_TIMEOUT:
            problems.append(FieldViolation(f"{path}attempt_timeout", "must be 1s to 24h"))
    deadline = _time(request, "deadline_time")
    if deadline is not None and deadline <= now:
        problems.append(FieldViolation(f"{path}deadline_time", "is in the past"))
    return problems


def _time(
    request: tasks_pb2.SubmitTaskRequest, field: Literal["not_before_time", "deadline_time"]
) -> datetime | None:
    if not request.HasField(field):
        return None
    value: datetime = getattr(request, field).ToDatetime(tzinfo=UTC)
    return value


def resource_id(name: str, prefix: str) -> str:
    """The id in a `{prefix}{id}` name (`tasks/{id}`, `dead-letters/{id}`); INVALID_ARGUMENT
    for anything else."""
    found = name.removeprefix(prefix)
    if not name.startswith(prefix) or not found or "/" in found:
        raise errors.invalid_argument([FieldViolation("name", f"must be {prefix}{{id}}")])
    return found


def batch_problems(count: int, unit: str = "items") -> list[FieldViolation]:
    """A batch of submits holds 1 to MAX_BATCH of them."""
    if 1 <= count <= MAX_BATCH:
        return []
    return [FieldViolation("requests", f"1 to {MAX_BATCH} {unit}")]


def retry_problems(request: tasks_pb2.RetryDeadLetterRequest) -> list[FieldViolation]:
    """RetryDeadLetter's overrides: attempts within bounds (0: as before), a known priority."""
    problems = []
    if not 0 <= request.max_attempts <= MAX_ATTEMPTS:
        problems.append(FieldViolation("max_attempts", f"must be 1 to {MAX_ATTEMPTS}"))
    if request.priority not in PRIORITIES:
        problems.append(FieldViolation("priority", "is not a priority"))
    return problems


def filter_problems(worker_type: int, reason: int = 0) -> list[FieldViolation]:
    """The enum filters of the bulk dead-letter RPCs must name a value of their enum."""
    problems = []
    if worker_type not in WORKER_TYPES:
        problems.append(FieldViolation("worker_type", "is not a worker type"))
    if reason not in tasks_pb2.DeadLetterReason.values():
        problems.append(FieldViolation("reason", "is not a dead-letter reason"))
    return problems


def live_page(request: tasks_pb2.StreamTaskUpdatesRequest) -> int:
    """StreamTaskUpdates' page size (1 to MAX_LIVE_PAGE; 0: LIVE_PAGE) once its state filter
    names a state; INVALID_ARGUMENT naming each bad field otherwise."""
    problems = []
    if not 0 <= request.page_size <= MAX_LIVE_PAGE:
        bounds = f"must be 1 to {MAX_LIVE_PAGE} (0: {LIVE_PAGE})"
        problems.append(FieldViolation("page_size", bounds))
    if request.state not in tasks_pb2.TaskState.values():
        problems.append(FieldViolation("state", "is not a task state"))
    if problems:
        raise errors.invalid_argument(problems)
    return request.page_size or LIVE_PAGE


def dead_letter_ids(names: Sequence[str]) -> tuple[list[str], list[FieldViolation]]:
    """The ids of `dead-letters/{id}` names, with a violation for each other name."""
    ids, problems = [], []
    for index, name in enumerate(names):
        found = name.removeprefix("dead-letters/")
        if not name.startswith("dead-letters/") or not found or "/" in found:
            problems.append(FieldViolation(f"names[{index}]", "must be dead-letters/{id}"))
        ids.append(found)
    return ids, problems


def critical(field: str) -> FieldViolation:
    """CRITICAL is the level every task ages towards; asking for it outright is for admins and
    services, so no user's flood outranks everyone else's work."""
    return FieldViolation(field, "PRIORITY_CRITICAL is for admins and services only")


def permission_denied(violations: Sequence[FieldViolation]) -> VokaError:
    """PERMISSION_DENIED naming every refused field, in words and in a BadRequest detail."""
    detail = error_details_pb2.BadRequest(field_violations=[
        error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
        for v in violations
    ])  # fmt: skip
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return VokaError(f"not allowed: {summary}", (detail,), grpc.StatusCode.PERMISSION_DENIED)
