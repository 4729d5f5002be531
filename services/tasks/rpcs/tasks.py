"""The task RPCs: submit (one, a batch, a stream), get, list, cancel, watch one, and follow the
caller's list and the figures live (StreamTaskUpdates, Server-Sent Events: `live/`).

Submits go through the one intake (`intake.py`) that the webhook dispatcher uses too, so every
way in stores, queues and counts tasks alike, and concurrent calls of any kind share its rounds
(unary SubmitTask calls in flight together cost one transaction and one hand-out, each call
still answered, deduplicated or refused on its own); the trace context is read once per call,
not per item; StreamSubmitTasks overlaps a message's insert with reading and checking the next
(the bulk producers' path, tuned for throughput). Every submit is checked in the same order:
what the caller may not ask for (PERMISSION_DENIED), bad fields (INVALID_ARGUMENT), then the
owner's quota (RESOURCE_EXHAUSTED); a unary or batch submit is refused whole, a stream refuses
the items concerned and goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import replace

from google.api import httpbody_pb2

from services.tasks import convert
from services.tasks.changes import Accepted, NewTask, TaskQuery
from services.tasks.events import LIFECYCLE_SUBJECTS, is_about
from services.tasks.live.feed import Feed, Source
from services.tasks.records import TaskRecord
from services.tasks.rpcs.base import BaseRpcs, Context, fingerprint, now, task_page, trusted
from services.tasks.validation import (
    MAX_BATCH,
    batch_problems,
    live_page,
    permission_denied,
    resource_id,
    traceparent,
)
from voka import authn, errors, pagination, sse, tenancy, watch, wellknown
from voka.errors import VokaError
from voka.tasks.v1 import tasks_pb2

MAX_STREAM_NAMES = 10_000  # StreamSubmitTasks returns names up to this many items


class TasksRpcs(BaseRpcs):
    """SubmitTask ... WatchTask."""

    async def SubmitTask(
        self, request: tasks_pb2.SubmitTaskRequest, context: Context
    ) -> tasks_pb2.SubmitTaskResponse:
        if refused := self._submits.forbidden(request, trusted()):
            raise permission_denied(refused)
        new, problems = self._submits.check(request, authn.caller().subject, now(),
                                            trace=traceparent())  # fmt: skip
        if new is None:
            raise errors.invalid_argument(problems)
        await self._admit(new.owner, 1)
        return _response(*(await self._accept([new]))[0])

    async def BatchSubmitTasks(
        self, request: tasks_pb2.BatchSubmitTasksRequest, context: Context
    ) -> tasks_pb2.BatchSubmitTasksResponse:
        if problems := batch_problems(len(request.requests)):
            raise errors.invalid_argument(problems)
        owner, at, allowed, trace = authn.caller().subject, now(), trusted(), traceparent()
        paths = [f"requests[{index}]." for index in range(len(request.requests))]
        refused = [bad for item, path in zip(request.requests, paths, strict=True)
                   for bad in self._submits.forbidden(item, allowed, path)]  # fmt: skip
        if refused:
            raise permission_denied(refused)
        batch, problems = [], []
        for item, path in zip(request.requests, paths, strict=True):
            new, bad = self._submits.check(item, owner, at, path, trace=trace)
            problems += bad
            if new is not None:
                batch.append(new)
        if problems:
            raise errors.invalid_argument(problems)
        await self._admit(owner, len(batch))
        results = await self._accept(batch)
        return tasks_pb2.BatchSubmitTasksResponse(results=[_response(*r) for r in results])

    async def _admit(self, owner: str, count: int) -> None:
        """All `count` new tasks under the owner's quota, or RESOURCE_EXHAUSTED (services are
        not capped)."""
        if not authn.caller().is_service:
            await self._quota.admit(owner, count)

    async def StreamSubmitTasks(
        self,
        request_iterator: AsyncIterator[tasks_pb2.StreamSubmitTasksRequest],
        context: Context,
    ) -> tasks_pb2.StreamSubmitTasksResponse:
        """Each message is checked and queued as it arrives (one transaction per message); a
        refused item is reported by its position in the stream and does not stop the rest.
        A message's insert runs while the next one is read and checked (one in flight)."""
        caller, trace = authn.caller(), traceparent()
        summary = tasks_pb2.StreamSubmitTasksResponse()
        names: list[str] = []
        inserting: asyncio.Future[list[tuple[Accepted, bool]]] | None = None
        try:
            async for message in request_iterator:
                batch = await self._checked(message, caller, trace, summary)
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

    async def _checked(
        self,
        message: tasks_pb2.StreamSubmitTasksRequest,
        caller: authn.Identity,
        trace: str | None,
        summary: tasks_pb2.StreamSubmitTasksResponse,
    ) -> list[NewTask]:
        """The message's submits that may go in; the others are counted and reported in
        `summary`, those beyond the owner's quota included."""
        if problems := batch_problems(len(message.requests), "items per message"):
            raise errors.invalid_argument(problems)
        owner, allowed = caller.subject, caller.is_admin or caller.is_service
        batch, positions, offset, at = [], [], summary.received_count, now()
        for index, item in enumerate(message.requests):
            path = f"requests[{index}]."
            if refused := self._submits.forbidden(item, allowed, path):
                _refuse(summary, offset + index, permission_denied(refused))
                continue
            new, bad = self._submits.check(item, owner, at, path, trace=trace)
            if new is not None:
                batch.append(new)
                positions.append(offset + index)
            else:
                _refuse(summary, offset + index, errors.invalid_argument(bad))
        summary.received_count += len(message.requests)
        room = len(batch)
        if batch and not caller.is_service:
            room = await self._quota.room(owner, len(batch))
        for position in positions[room:]:
            _refuse(summary, position, self._quota.exceeded(owner))
        return batch[:room]

    async def GetTask(
        self, request: tasks_pb2.GetTaskRequest, context: Context
    ) -> tasks_pb2.GetTaskResponse:
        record = await self._task(resource_id(request.name, "tasks/"))
        full = request.view != tasks_pb2.TASK_VIEW_BASIC
        return tasks_pb2.GetTaskResponse(task=self._shown(record, full))

    async def ListTasks(
        self, request: tasks_pb2.ListTasksRequest, context: Context
    ) -> tasks_pb2.ListTasksResponse:
        filters = TaskQuery(owner=tenancy.list_owner(request.owner), state=request.state,
                            priority=request.priority, worker_type=request.worker_type,
                            function_name=request.function_name,
                            idempotency_key=request.idempotency_key)  # fmt: skip
        page, after = task_page(request.page_size, request.page_token, filters)
        records, more = await self._store.page(replace(filters, after=after, limit=page))
        token = ""
        if more:
            token = pagination.keyset_token(
                fingerprint(filters), records[-1].create_time, records[-1].id
            )
        full = request.view == tasks_pb2.TASK_VIEW_FULL
        return tasks_pb2.ListTasksResponse(tasks=[self._shown(r, full) for r in records],
                                           next_page_token=token)  # fmt: skip

    async def CancelTask(
        self, request: tasks_pb2.CancelTaskRequest, context: Context
    ) -> tasks_pb2.CancelTaskResponse:
        record = await self._task(resource_id(request.name, "tasks/"))
        if record.final:
            state = tasks_pb2.TaskState.Name(record.state)
            raise errors.failed_precondition(f"task is already {state}", "STATE", record.name)
        await self._scheduler.cancel(record.id, request.reason)
        return tasks_pb2.CancelTaskResponse(task=self._shown(await self._task(record.id)))

    async def WatchTask(
        self, request: tasks_pb2.WatchTaskRequest, context: Context
    ) -> AsyncIterator[tasks_pb2.WatchTaskResponse]:
        """The task now, then each change of its state, attempt or worker, until it is final;
        its lifecycle events, from whichever replica, wake the re-read (`voka.watch`)."""
        record = await self._task(resource_id(request.name, "tasks/"))
        watched: watch.Watched[TaskRecord] = watch.Watched(
            read=functools.partial(self._store.get, record.id),
            version=lambda task: (task.shown_state, task.attempts, task.worker),
            final=lambda task: task.final,
        )
        concerns = functools.partial(is_about, task=record.name)
        first = True
        async for change in watch.changes(self._bus, LIFECYCLE_SUBJECTS, concerns, watched):
            message = self._shown(change, full=False)
            if change.has_result:
                message.result.CopyFrom(convert.json_value(change.result))
            yield tasks_pb2.WatchTaskResponse(task=message, initial=first)
            first = False

    async def StreamTaskUpdates(
        self, request: tasks_pb2.StreamTaskUpdatesRequest, context: Context
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        """The caller's newest tasks (whose, as ListTasks decides) and the figures, as SSE
        frames until the idle end or the client leaves; refused past the cap per caller."""
        owner = tenancy.list_owner(request.owner)
        query = TaskQuery(owner=owner, state=request.state, limit=live_page(request))

        async def read() -> list[TaskRecord]:
            return (await self._store.page(query))[0]

        source = Source(owner, read, functools.partial(self._shown, full=False))
        with self._live.cap.hold(authn.caller().subject):
            async with contextlib.aclosing(Feed(self._bus, source, self._live).frames()) as frames:
                async for frame in frames:
                    yield sse.body(frame)


def _refuse(summary: tasks_pb2.StreamSubmitTasksResponse, index: int, error: VokaError) -> None:
    """One stream item refused: counted, and reported while the failures fit."""
    summary.refused_count += 1
    if len(summary.failures) < MAX_BATCH:
        summary.failures.add(index=index, status=error.to_status())


def _count(
    summary: tasks_pb2.StreamSubmitTasksResponse,
    names: list[str],
    results: list[tuple[Accepted, bool]],
) -> None:
    for record, deduplicated in results:
        summary.deduplicated_count += deduplicated
        summary.accepted_count += not deduplicated
        names.append(record.name)


def _response(record: Accepted, deduplicated: bool) -> tasks_pb2.SubmitTaskResponse:
    return tasks_pb2.SubmitTaskResponse(
        name=record.name,
        state=record.state,
        shard=record.shard,
        deduplicated=deduplicated,
        create_time=wellknown.timestamp(record.create_time),
    )
