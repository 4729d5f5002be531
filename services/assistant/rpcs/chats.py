"""Chat RPCs: CompleteChat (unary) and StreamCompleteChat (token by token), stand-alone chats
over the caller's own message list; nothing is stored. They share the provider slots of the
reply RPCs, so overload is RESOURCE_EXHAUSTED before anything is streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.assistant import convert, validation
from services.assistant.hemisphere import Balance
from services.assistant.rpcs.base import AssistantRpcs, Context, as_stream
from services.assistant.standalone_chats import Chat, ChatInput
from voka import authn
from voka.assistant.v1 import assistant_pb2

ChatRequest = assistant_pb2.CompleteChatRequest | assistant_pb2.StreamCompleteChatRequest


class ChatsRpcs(AssistantRpcs):
    """Stand-alone chats, answered whole or streamed."""

    async def _chat(self, request: ChatRequest) -> Chat:
        present = request.HasField("hemisphere")
        problems = validation.chat_messages(request.messages)
        problems += self._deps.image_limits.in_messages(request.messages)
        problems += validation.sampling(request.sampling)
        problems += validation.balance(request.hemisphere, present, "hemisphere")
        validation.require(problems + validation.tools(request.tools, "tools"))
        ask = ChatInput(
            owner=authn.caller().subject,
            messages=request.messages,
            model=request.model,
            sampling=request.sampling,
            hemisphere=Balance.of(request.hemisphere) if present else None,
            context=convert.plain(request.context),
            tools=request.tools,
        )
        return await self._deps.chats.prepare(ask)

    async def CompleteChat(
        self, request: assistant_pb2.CompleteChatRequest, context: Context
    ) -> assistant_pb2.CompleteChatResponse:
        chat = await self._chat(request)
        async for _ in self._deps.chats.stream(chat):
            pass
        outcome = chat.outcome
        return assistant_pb2.CompleteChatResponse(
            message=assistant_pb2.ChatMessage(
                role=assistant_pb2.MESSAGE_ROLE_ASSISTANT, content=outcome.text
            ),
            tool_calls=outcome.calls,
            tool_results=outcome.results,
            model=outcome.model,
            usage=outcome.usage(),
            timing=outcome.timing(),
            finish_reason=convert.finish_reason(outcome.finish),
        )

    async def StreamCompleteChat(
        self, request: assistant_pb2.StreamCompleteChatRequest, context: Context
    ) -> AsyncIterator[assistant_pb2.StreamCompleteChatResponse]:
        chat = await self._chat(request)
        events = self._deps.chats.stream(chat)
        async for event in as_stream(events, assistant_pb2.StreamCompleteChatResponse):
            yield event
