"""Async completion RPCs: create (queued over NATS), get, list, cancel, watch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import grpc

from services.assistant import validation
from services.assistant.deps import Deps, owner_filter
from voka import authn, errors, pagination
from voka.assistant.v1 import assistant_pb2

A = assistant_pb2
Context = grpc.aio.ServicerContext[Any, Any]


class CompletionRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

    async def _visible_completion(self, name: str) -> A.Completion:
        completion_id, problems = validation.resource_id(name, "completions", "name")
        validation.require(problems)
        job = await self._deps.store.completion(completion_id)
        identity = authn.caller()
        if job is None or not (identity.is_admin or job.owner == identity.subject):
            raise errors.not_found("Completion", name)
        return job

    async def CreateCompletion(
        self, request: A.CreateCompletionRequest, context: Context
    ) -> A.CreateCompletionResponse:
        given = request.completion
        validation.require(validation.completion(given) + validation.request_id(request.request_id))
        identity = authn.caller()
        if given.conversation:
            await self._deps.turns.visible(given.conversation.removeprefix("conversations/"),
                                           identity.subject, identity.is_admin)  # fmt: skip
        job = await self._deps.completions.create(identity.subject, given, request.request_id)
        return A.CreateCompletionResponse(completion=job)

    async def GetCompletion(
        self, request: A.GetCompletionRequest, context: Context
    ) -> A.GetCompletionResponse:
        return A.GetCompletionResponse(completion=await self._visible_completion(request.name))

    async def ListCompletions(
        self, request: A.ListCompletionsRequest, context: Context
    ) -> A.ListCompletionsResponse:
        owner = owner_filter(request.owner)
        key = pagination.fingerprint(owner, request.state)
        size, problems = pagination.page_size(request.page_size)
        after, bad = pagination.keyset_cursor(request.page_token, key)
        validation.require(problems + bad)
        store = self._deps.store
        jobs, more = await store.completions(owner, request.state, after, size)
        token = ""
        if more:
            last = jobs[-1]
            stamp = last.create_time.ToDatetime(UTC)
            token = pagination.keyset_token(key, stamp, last.name.removeprefix("completions/"))
        return A.ListCompletionsResponse(completions=jobs, next_page_token=token,
                                         total_size=await store.count_completions(
                                             owner, request.state))  # fmt: skip

    async def CancelCompletion(
        self, request: A.CancelCompletionRequest, context: Context
    ) -> A.CancelCompletionResponse:
        job = await self._visible_completion(request.name)
        cancelled = await self._deps.completions.cancel(job, authn.caller().subject,
                                                        request.reason)  # fmt: skip
        return A.CancelCompletionResponse(completion=cancelled)

    async def WatchCompletion(
        self, request: A.WatchCompletionRequest, context: Context
    ) -> AsyncIterator[A.WatchCompletionResponse]:
        job = await self._visible_completion(request.name)
        async for change in self._deps.completions.watch(job.name.removeprefix("completions/")):
            yield A.WatchCompletionResponse(completion=change)
