"""Async completion RPCs: create (queued over NATS), get, list, cancel, watch. Callers see their
own completions, admins anyone's (`voka.tenancy`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC

from services.assistant import validation
from services.assistant.rpcs.base import AssistantRpcs, Context
from voka import authn, pagination, tenancy
from voka.assistant.v1 import assistant_pb2


class CompletionsRpcs(AssistantRpcs):
    """Async completions."""

    async def _completion(self, name: str) -> assistant_pb2.Completion:
        """The completion `name`, if the caller may see it."""
        completion_id, problems = validation.resource_id(name, "completions", "name")
        validation.require(problems)
        job = await self._deps.completion_store.get(completion_id)
        tenancy.require_visible(job.owner if job else None, "Completion", name)
        assert job is not None
        return job

    async def CreateCompletion(
        self, request: assistant_pb2.CreateCompletionRequest, context: Context
    ) -> assistant_pb2.CreateCompletionResponse:
        given = request.completion
        validation.require(validation.completion(given) + validation.request_id(request.request_id))
        if given.conversation:
            await self._conversation(given.conversation, "completion.conversation")
        owner = authn.caller().subject
        job = await self._deps.completions.create(owner, given, request.request_id)
        return assistant_pb2.CreateCompletionResponse(completion=job)

    async def GetCompletion(
        self, request: assistant_pb2.GetCompletionRequest, context: Context
    ) -> assistant_pb2.GetCompletionResponse:
        return assistant_pb2.GetCompletionResponse(completion=await self._completion(request.name))

    async def ListCompletions(
        self, request: assistant_pb2.ListCompletionsRequest, context: Context
    ) -> assistant_pb2.ListCompletionsResponse:
        owner = tenancy.list_owner(request.owner)
        key = pagination.fingerprint(owner, request.state)
        size, problems = pagination.page_size(request.page_size)
        after, bad = pagination.keyset_cursor(request.page_token, key)
        validation.require(problems + bad)
        store = self._deps.completion_store
        jobs, more = await store.page(owner, request.state, after, size)
        token = ""
        if more:
            last = jobs[-1]
            stamp = last.create_time.ToDatetime(UTC)
            token = pagination.keyset_token(key, stamp, last.name.removeprefix("completions/"))
        return assistant_pb2.ListCompletionsResponse(
            completions=jobs,
            next_page_token=token,
            total_size=await store.count(owner, request.state),
        )

    async def CancelCompletion(
        self, request: assistant_pb2.CancelCompletionRequest, context: Context
    ) -> assistant_pb2.CancelCompletionResponse:
        job = await self._completion(request.name)
        requester = authn.caller().subject
        cancelled = await self._deps.completions.cancel(job, requester, request.reason)
        return assistant_pb2.CancelCompletionResponse(completion=cancelled)

    async def WatchCompletion(
        self, request: assistant_pb2.WatchCompletionRequest, context: Context
    ) -> AsyncIterator[assistant_pb2.WatchCompletionResponse]:
        job = await self._completion(request.name)
        async for change in self._deps.completions.watch(job):
            yield assistant_pb2.WatchCompletionResponse(completion=change)
