"""TasksService: submit, read, list, cancel and watch tasks; the function registry; the
dead-letter queue. Tenancy: callers see their own tasks, admins everyone's; someone else's
task is NOT_FOUND, never PERMISSION_DENIED (its existence is not revealed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import grpc

from services.tasks import control, convert, metrics, watch
from services.tasks.changes import Accepted, NewTask, TaskQuery
from services.tasks.intake import Intake
from services.tasks.leases import LeaseStore
from services.tasks.pools import Pools
from services.tasks.records import TaskRecord
from services.tasks.registry import Registry
from services.tasks.scheduler import Scheduler
from services.tasks.store import Store
from services.tasks.validation import MAX_ATTEMPTS, Submits
from services.tasks.webhook_api import WebhookRpcs, Webhooks
from voka import authn, errors, pagination, wellknown
from voka.bus import Bus
from voka.errors import FieldViolation
from voka.tasks.v1 import events_pb2, tasks_pb2, tasks_pb2_grpc

MAX_BATCH = 1000
MAX_STREAM_NAMES = 10_000  # StreamSubmitTasks returns names up to this many items
T = tasks_pb2


def _now() -> datetime:
    return datetime.now(UTC)


def _id(name: str, prefix: str) -> str:
    task_id = name.removeprefix(prefix)
    if not name.startswith(prefix) or not task_id or "/" in task_id:
        raise errors.invalid_argument([FieldViolation("name", f"must be {prefix}{{id}}")])
    return task_id


class TasksServicer(WebhookRpcs, tasks_pb2_grpc.TasksServiceServicer):
    """The built RPCs; the others answer UNIMPLEMENTED through the generated base class."""

    def __init__(
        self,
        store: Store,
        leases: LeaseStore,
        registry: Registry,
        scheduler: Scheduler,
        bus: Bus,
        *,
        pools: Pools,
        webhooks: Webhooks,
        intake: Intake,
    ) -> None:
        self.webhooks = webhooks
        self._store = store
        self._pools = pools
        self._leases = leases
        self._registry = registry
        self._scheduler = scheduler
        self._bus = bus
        self._submits = Submits(registry, scheduler.settings.tasks_shards)
        self._accept = intake.accept

    async def SubmitTask(
        self, request: T.SubmitTaskRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.SubmitTaskResponse:
        new, problems = self._submits.check(request, authn.caller().subject, _now())
        if new is None:
            raise errors.invalid_argument(problems)
        return _response(*(await self._accept([new]))[0])

    async def BatchSubmitTasks(
        self, request: T.BatchSubmitTasksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.BatchSubmitTasksResponse:
        if not 1 <= len(request.requests) <= MAX_BATCH:
            raise errors.invalid_argument([FieldViolation("requests", f"1 to {MAX_BATCH} items")])
        owner, now = authn.caller().subject, _now()
        batch, problems = [], []
        for index, item in enumerate(request.requests):
            new, bad = self._submits.check(item, owner, now, f"requests[{index}].")
            problems += bad
            if new is not None:
                batch.append(new)
        if problems:
            raise errors.invalid_argument(problems)
        results = await self._accept(batch)
        return T.BatchSubmitTasksResponse(results=[_response(*r) for r in results])

    async def StreamSubmitTasks(
        self,
        request_iterator: AsyncIterator[T.StreamSubmitTasksRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> T.StreamSubmitTasksResponse:
        """Each message is checked and queued as it arrives (one transaction per message); a
        refused item is reported by its position in the stream and does not stop the rest.
        A message's insert runs while the next one is read and checked (one in flight)."""
        owner = authn.caller().subject
        summary = T.StreamSubmitTasksResponse()
        names: list[str] = []
        inserting: asyncio.Future[list[tuple[Accepted, bool]]] | None = None
        try:
            async for message in request_iterator:
                batch = self._checked(message, owner, summary)
                if inserting is not None:
                    _count(summary, names, await inserting)
                inserting = asyncio.ensure_future(self._accept(batch)) if batch else None
            if inserting is not None:
                _count(summary, names, await inserting)
        except BaseException:
            if inserting is not None:  # what was taken in gets queued all the same
                with contextlib.suppress(Exception):
                    await inserting
            raise
        if summary.received_count <= MAX_STREAM_NAMES:
            summary.names.extend(names)
        return summary

    def _checked(
        self, message: T.StreamSubmitTasksRequest, owner: str, summary: T.StreamSubmitTasksResponse
    ) -> list[NewTask]:
        """The message's valid submits; the others are counted and reported in `summary`."""
        if not 1 <= len(message.requests) <= MAX_BATCH:
            raise errors.invalid_argument(
                [FieldViolation("requests", f"1 to {MAX_BATCH} items per message")]
            )
        batch, offset, now = [], summary.received_count, _now()
        for index, item in enumerate(message.requests):
            new, bad = self._submits.check(item, owner, now, f"requests[{index}].")
            if new is not None:
                batch.append(new)
            else:
                summary.refused_count += 1
                if len(summary.failures) < MAX_BATCH:
                    status = errors.invalid_argument(bad).to_status()
                    summary.failures.add(index=offset + index, status=status)
        summary.received_count += len(message.requests)
        return batch

    async def _visible(self, task_id: str, resource: str = "Task") -> TaskRecord:
        record = await self._store.get(task_id)
        identity = authn.caller()
        if record is None or not (identity.is_admin or record.owner == identity.subject):
            prefix = "tasks/" if resource == "Task" else "dead-letters/"
            raise errors.not_found(resource, prefix + task_id)
        return record

    async def GetTask(
        self, request: T.GetTaskRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.GetTaskResponse:
        record = await self._visible(_id(request.name, "tasks/"))
        return T.GetTaskResponse(task=convert.task(record, request.view != T.TASK_VIEW_BASIC))

    async def ListTasks(
        self, request: T.ListTasksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.ListTasksResponse:
        owner = _owner_filter(request.owner)
        filters = TaskQuery(owner=owner, state=request.state, priority=request.priority,
                            worker_type=request.worker_type, function_name=request.function_name,
                            idempotency_key=request.idempotency_key)  # fmt: skip
        page, after = _page(request.page_size, request.page_token, filters)
        records, more = await self._store.page(replace(filters, after=after, limit=page))
        key = _fingerprint(filters)
        full = request.view == T.TASK_VIEW_FULL
        token = (
            pagination.keyset_token(key, records[-1].create_time, records[-1].id) if more else ""
        )
        return T.ListTasksResponse(tasks=[convert.task(r, full) for r in records],
                                   next_page_token=token)  # fmt: skip

    async def CancelTask(
        self, request: T.CancelTaskRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.CancelTaskResponse:
        record = await self._visible(_id(request.name, "tasks/"))
        if record.final:
            raise errors.failed_precondition(
                f"task is already {T.TaskState.Name(record.state)}", "STATE", record.name
            )
        await self._store.cancel(record.id, request.reason, _now())
        after = await self._visible(record.id)
        if after.state == T.TASK_STATE_CANCELLED:
            self._scheduler.forget(record.id)
            await self._scheduler.announce(record.id)
            metrics.finished(metrics.CANCELLED, record.worker_type)
        elif after.cancel_requested and after.dispatch_id:  # running: ask its worker to stop
            await self._bus.emit(events_pb2.TaskCancellationRequestedEvent(
                task=after.name, attempt=after.attempts, dispatch_id=after.dispatch_id,
                worker=after.worker,
            ))  # fmt: skip
        return T.CancelTaskResponse(task=convert.task(after))

    async def WatchTask(
        self, request: T.WatchTaskRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[T.WatchTaskResponse]:
        record = await self._visible(_id(request.name, "tasks/"))
        first = True
        async for change in watch.changes(self._bus, self._store, record.id):
            message = convert.task(change, full=False)
            if change.has_result:
                message.result.CopyFrom(convert.json_value(change.result))
            yield T.WatchTaskResponse(task=message, initial=first)
            first = False

    async def ListTaskFunctions(
        self, request: T.ListTaskFunctionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.ListTaskFunctionsResponse:
        functions = [f for f in self._registry.all()
                     if request.worker_type in (0, f.worker_type)]  # fmt: skip
        size, problems = pagination.page_size(request.page_size)
        start = 0
        if request.page_token:
            start = next((i for i, f in enumerate(functions) if f.name > request.page_token), -1)
            if start < 0:
                problems.append(FieldViolation("page_token", "is not a page token"))
        if problems:
            raise errors.invalid_argument(problems)
        page = functions[start : start + size]
        more = start + size < len(functions)
        return T.ListTaskFunctionsResponse(
            task_functions=[convert.task_function(f) for f in page],
            next_page_token=page[-1].name if more else "",
            total_size=len(functions),
        )

    async def GetTaskFunction(
        self, request: T.GetTaskFunctionRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.GetTaskFunctionResponse:
        function = self._registry.get(request.name.removeprefix("task-functions/"))
        if function is None or not request.name.startswith("task-functions/"):
            raise errors.not_found("TaskFunction", request.name)
        return T.GetTaskFunctionResponse(task_function=convert.task_function(function))

    async def GetTaskMetrics(
        self, request: T.GetTaskMetricsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.GetTaskMetricsResponse:
        figures = await control.task_metrics(self._scheduler, self._store, self._pools, request)
        return T.GetTaskMetricsResponse(metrics=figures)

    async def GetSchedulerStatus(
        self, request: T.GetSchedulerStatusRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.GetSchedulerStatusResponse:
        status = await control.scheduler_status(self._scheduler, self._leases, self._pools)
        return T.GetSchedulerStatusResponse(status=status)

    async def ControlScheduler(
        self, request: T.ControlSchedulerRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.ControlSchedulerResponse:
        done = await control.control(self._scheduler, self._leases, self._pools, request)
        status = await control.scheduler_status(self._scheduler, self._leases, self._pools)
        return T.ControlSchedulerResponse(message=done, status=status)

    async def SubmitDemoTasks(
        self, request: T.SubmitDemoTasksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.SubmitDemoTasksResponse:
        owner, now = authn.caller().subject, _now()
        batch = []
        for index, item in enumerate(control.demo_requests(self._registry, request)):
            new, problems = self._submits.check(item, owner, now, f"demo[{index}].")
            if new is None:  # a demo function whose sample arguments no longer fit its schema
                raise errors.failed_precondition(
                    f"demo task {item.function_name} is refused: {problems[0].description}"
                )
            batch.append(new)
        results = await self._accept(batch)
        return T.SubmitDemoTasksResponse(count=len(results), names=[r.name for r, _ in results])

    async def ListDeadLetters(
        self, request: T.ListDeadLettersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.ListDeadLettersResponse:
        filters = TaskQuery(owner=_owner_filter(request.owner), dead_letters=True,
                            worker_type=request.worker_type, function_name=request.function_name,
                            reason=request.reason)  # fmt: skip
        page, after = _page(request.page_size, request.page_token, filters)
        records, more = await self._store.page(replace(filters, after=after, limit=page))
        key = _fingerprint(filters)
        last = records[-1] if more else None
        token = ""
        if last is not None and last.dead_letter_time is not None:
            token = pagination.keyset_token(key, last.dead_letter_time, last.id)
        return T.ListDeadLettersResponse(
            dead_letters=[convert.dead_letter(r) for r in records],
            next_page_token=token,
            total_size=await self._store.count(filters),
        )

    async def _dead_letter(self, name: str) -> TaskRecord:
        record = await self._visible(_id(name, "dead-letters/"), "DeadLetter")
        if record.state != T.TASK_STATE_DEAD_LETTERED or record.purge_time is not None:
            raise errors.not_found("DeadLetter", name)
        return record

    async def GetDeadLetter(
        self, request: T.GetDeadLetterRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.GetDeadLetterResponse:
        return T.GetDeadLetterResponse(dead_letter=convert.dead_letter(
            await self._dead_letter(request.name)))  # fmt: skip

    async def RetryDeadLetter(
        self, request: T.RetryDeadLetterRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.RetryDeadLetterResponse:
        problems = []
        if not 0 <= request.max_attempts <= MAX_ATTEMPTS:
            problems.append(FieldViolation("max_attempts", f"must be 1 to {MAX_ATTEMPTS}"))
        if request.priority not in T.Priority.values():
            problems.append(FieldViolation("priority", "is not a priority"))
        if problems:
            raise errors.invalid_argument(problems)
        record = await self._dead_letter(request.name)
        if not await self._store.requeue_dead_letter(
            record.id, request.max_attempts, request.priority, _now()
        ):
            raise errors.not_found("DeadLetter", request.name)
        requeued = await self._visible(record.id)
        await self._scheduler.admit([requeued])
        return T.RetryDeadLetterResponse(task=convert.task(requeued))

    async def RetryAllDeadLetters(
        self, request: T.RetryAllDeadLettersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.RetryAllDeadLettersResponse:
        """Admins only (the contract's access rule): every owner's dead letters."""
        _check_enums(request.worker_type, request.reason)
        query = TaskQuery(owner=None, dead_letters=True, function_name=request.function_name,
                          worker_type=request.worker_type, reason=request.reason)  # fmt: skip
        requeued = await self._store.requeue_dead_letters(query, _now())
        await self._scheduler.admit(requeued)
        return T.RetryAllDeadLettersResponse(retried_count=len(requeued))

    async def PurgeDeadLetters(
        self, request: T.PurgeDeadLettersRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> T.PurgeDeadLettersResponse:
        """Admins only. Without `force` it only counts; the tasks stay DEAD_LETTERED."""
        _check_enums(request.worker_type)
        ids, problems = [], []
        for index, name in enumerate(request.names):
            dead_letter = name.removeprefix("dead-letters/")
            if not name.startswith("dead-letters/") or not dead_letter or "/" in dead_letter:
                problems.append(FieldViolation(f"names[{index}]", "must be dead-letters/{id}"))
            ids.append(dead_letter)
        if problems:
            raise errors.invalid_argument(problems)
        before = None
        if request.HasField("before_time"):
            before = request.before_time.ToDatetime(tzinfo=UTC)
        query = TaskQuery(owner=None, dead_letters=True, function_name=request.function_name,
                          worker_type=request.worker_type, before=before,
                          ids=tuple(ids))  # fmt: skip
        count, sample = await self._store.purge_dead_letters(query, request.force, _now())
        return T.PurgeDeadLettersResponse(
            purge_count=count, purge_sample=[f"dead-letters/{i}" for i in sample]
        )


def _count(
    summary: T.StreamSubmitTasksResponse, names: list[str], results: list[tuple[Accepted, bool]]
) -> None:
    for record, deduplicated in results:
        summary.deduplicated_count += deduplicated
        summary.accepted_count += not deduplicated
        names.append(record.name)


def _response(record: Accepted, deduplicated: bool) -> T.SubmitTaskResponse:
    return T.SubmitTaskResponse(
        name=record.name,
        state=record.state,
        shard=record.shard,
        deduplicated=deduplicated,
        create_time=wellknown.timestamp(record.create_time),
    )


def _check_enums(worker_type: int, reason: int = 0) -> None:
    problems = []
    if worker_type not in T.WorkerType.values():
        problems.append(FieldViolation("worker_type", "is not a worker type"))
    if reason not in T.DeadLetterReason.values():
        problems.append(FieldViolation("reason", "is not a dead-letter reason"))
    if problems:
        raise errors.invalid_argument(problems)


def _owner_filter(requested: str) -> str | None:
    """Admins may list anyone's (or everyone's: None); others always get their own."""
    identity = authn.caller()
    if identity.is_admin:
        return requested or None
    return identity.subject


def _fingerprint(filters: TaskQuery) -> str:
    return pagination.fingerprint(asdict(filters))


def _page(size: int, token: str, filters: TaskQuery) -> tuple[int, tuple[datetime, str] | None]:
    """Page size and the cursor of `token`, which must come from the same filters."""
    page, problems = pagination.page_size(size)
    after, bad = pagination.keyset_cursor(token, _fingerprint(filters))
    if problems + bad:
        raise errors.invalid_argument(problems + bad)
    return page, after
