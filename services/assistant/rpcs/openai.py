"""OpenAiService: OpenAI's chat completions and model list on the assistant's own machinery.

A chat completion is a stand-alone chat (`StandaloneChats`, as CompleteChat): the same model
choice, provider slots (RESOURCE_EXHAUSTED before anything is streamed), bounds and
`reply.completed` announcement; only the wire format differs, and that lives in
`services.assistant.openai`."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace
from typing import Any

from google.api import httpbody_pb2

from services.assistant import catalogue, validation
from services.assistant.openai import request as openai_request
from services.assistant.openai import shapes, sse
from services.assistant.rpcs.base import AssistantRpcs, Context, Deps
from services.assistant.standalone_chats import Chat, ChatInput
from voka import authn, errors
from voka.assistant.v1 import openai_pb2, openai_pb2_grpc

JSON_TYPE = "application/json"


def json_body(payload: dict[str, Any]) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=JSON_TYPE, data=json.dumps(payload).encode())


class OpenAiServicer(AssistantRpcs, openai_pb2_grpc.OpenAiServiceServicer):
    """`/v1/chat/completions` and `/v1/models`."""

    def __init__(self, deps: Deps) -> None:
        super().__init__(deps)
        # OpenAI's `created` of a model; the configured models exist since this process began.
        self._created = int(time.time())

    async def CreateChatCompletion(
        self, request: openai_pb2.CreateChatCompletionRequest, context: Context
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        ask = openai_request.parse(request.body.data)
        chat = await self._prepare(ask)
        async with aclosing(self._deps.chats.stream(chat)) as events:
            if ask.stream:
                frames = sse.frames(events, chat.outcome, include_usage=ask.include_usage)
                async for frame in frames:
                    yield httpbody_pb2.HttpBody(content_type=sse.CONTENT_TYPE, data=frame)
                return
            async for _ in events:
                pass
        yield json_body(shapes.completion(shapes.Head(chat.outcome.model), chat.outcome))

    async def ListOpenAiModels(
        self, request: openai_pb2.ListOpenAiModelsRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        registry = self._deps.registry
        models = catalogue.ordered(registry.models(), registry.default_model)
        return json_body(shapes.model_list(models, self._created))

    async def GetOpenAiModel(
        self, request: openai_pb2.GetOpenAiModelRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        found = [m for m in self._deps.registry.models() if m.id == request.model]
        if not found:
            raise errors.not_found("model", request.model)
        return json_body(shapes.model(found[0], self._created))

    async def _prepare(self, ask: openai_request.ChatCompletionAsk) -> Chat:
        """The chat, once the chosen model can serve it (INVALID_ARGUMENT naming what not)."""
        deps = self._deps
        _, model_id = deps.turns.model(ask.model)
        _, info = deps.registry.resolve(model_id)
        problems = openai_request.limits(ask, info, deps.max_output_tokens)
        problems += deps.image_limits.in_messages(ask.messages)
        validation.require(problems)
        chat = await deps.chats.prepare(
            ChatInput(
                owner=authn.caller().subject,
                messages=ask.messages,
                model=model_id,
                sampling=ask.sampling,
                persona=not ask.own_system,
            )
        )
        if ask.tools:
            chat.request = replace(chat.request, tools=ask.tools)
        return chat
