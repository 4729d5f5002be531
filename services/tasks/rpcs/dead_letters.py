"""The dead-letter RPCs: tasks that failed for good, listed, retried (one, or every match) and
purged. A dead letter is its task in the DEAD_LETTERED state, named `dead-letters/{id}`; a
purged one is gone for every RPC here while its task stays DEAD_LETTERED."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC

from services.tasks import convert
from services.tasks.changes import TaskQuery
from services.tasks.records import TaskRecord
from services.tasks.rpcs.base import BaseRpcs, Context, fingerprint, now, task_page, trusted
from services.tasks.validation import (
    critical,
    dead_letter_ids,
    filter_problems,
    permission_denied,
    resource_id,
    retry_problems,
)
from voka import errors, pagination, tenancy
from voka.tasks.v1 import tasks_pb2

PREFIX = "dead-letters/"


class DeadLettersRpcs(BaseRpcs):
    """ListDeadLetters ... PurgeDeadLetters."""

    async def ListDeadLetters(
        self, request: tasks_pb2.ListDeadLettersRequest, context: Context
    ) -> tasks_pb2.ListDeadLettersResponse:
        filters = TaskQuery(owner=tenancy.list_owner(request.owner), dead_letters=True,
                            worker_type=request.worker_type, function_name=request.function_name,
                            reason=request.reason)  # fmt: skip
        page, after = task_page(request.page_size, request.page_token, filters)
        records, more = await self._store.page(replace(filters, after=after, limit=page))
        last = records[-1] if more else None
        token = ""
        if last is not None and last.dead_letter_time is not None:
            token = pagination.keyset_token(fingerprint(filters), last.dead_letter_time, last.id)
        return tasks_pb2.ListDeadLettersResponse(
            dead_letters=[convert.dead_letter(r) for r in records],
            next_page_token=token,
            total_size=await self._store.count(filters),
        )

    async def GetDeadLetter(
        self, request: tasks_pb2.GetDeadLetterRequest, context: Context
    ) -> tasks_pb2.GetDeadLetterResponse:
        record = await self._dead_letter(request.name)
        return tasks_pb2.GetDeadLetterResponse(dead_letter=convert.dead_letter(record))

    async def RetryDeadLetter(
        self, request: tasks_pb2.RetryDeadLetterRequest, context: Context
    ) -> tasks_pb2.RetryDeadLetterResponse:
        if request.priority == tasks_pb2.PRIORITY_CRITICAL and not trusted():
            raise permission_denied([critical("priority")])
        if problems := retry_problems(request):
            raise errors.invalid_argument(problems)
        record = await self._dead_letter(request.name)
        if not await self._store.requeue_dead_letter(
            record.id, request.max_attempts, request.priority, now()
        ):
            raise errors.not_found("DeadLetter", request.name)
        requeued = await self._task(record.id)
        await self._scheduler.admit([requeued])
        return tasks_pb2.RetryDeadLetterResponse(task=self._shown(requeued))

    async def RetryAllDeadLetters(
        self, request: tasks_pb2.RetryAllDeadLettersRequest, context: Context
    ) -> tasks_pb2.RetryAllDeadLettersResponse:
        """Admins only (the contract's access rule): every owner's dead letters."""
        if problems := filter_problems(request.worker_type, request.reason):
            raise errors.invalid_argument(problems)
        query = TaskQuery(owner=None, dead_letters=True, function_name=request.function_name,
                          worker_type=request.worker_type, reason=request.reason)  # fmt: skip
        requeued = await self._store.requeue_dead_letters(query, now())
        await self._scheduler.admit(requeued)
        return tasks_pb2.RetryAllDeadLettersResponse(retried_count=len(requeued))

    async def PurgeDeadLetters(
        self, request: tasks_pb2.PurgeDeadLettersRequest, context: Context
    ) -> tasks_pb2.PurgeDeadLettersResponse:
        """Admins only. Without `force` it only counts; the tasks stay DEAD_LETTERED."""
        if problems := filter_problems(request.worker_type):
            raise errors.invalid_argument(problems)
        ids, problems = dead_letter_ids(request.names)
        if problems:
            raise errors.invalid_argument(problems)
        before = None
        if request.HasField("before_time"):
            before = request.before_time.ToDatetime(tzinfo=UTC)
        query = TaskQuery(owner=None, dead_letters=True, function_name=request.function_name,
                          worker_type=request.worker_type, before=before,
                          ids=tuple(ids))  # fmt: skip
        count, sample = await self._store.purge_dead_letters(query, request.force, now())
        return tasks_pb2.PurgeDeadLettersResponse(
            purge_count=count, purge_sample=[PREFIX + i for i in sample]
        )

    async def _dead_letter(self, name: str) -> TaskRecord:
        """The dead letter if the caller may see it and it was not purged; else NOT_FOUND."""
        record = await self._task(resource_id(name, PREFIX), "DeadLetter")
        if record.state != tasks_pb2.TASK_STATE_DEAD_LETTERED or record.purge_time is not None:
            raise errors.not_found("DeadLetter", name)
        return record
