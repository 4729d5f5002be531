"""Reply RPCs: ProcessMessage (unary) and StreamReply (token by token) as conversation turns;
CompleteChat and StreamCompleteChat as stand-alone chats. All run through the same provider
slots; overload is RESOURCE_EXHAUSTED before anything is stored or streamed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from services.assistant import convert, validation
from services.assistant.chats import Chat, ChatInput
from services.assistant.deps import Deps
from services.assistant.hemisphere import Balance
from services.assistant.replies import Outcome
from services.assistant.turns import Turn, TurnInput
from voka import authn, errors
from voka.assistant.v1 import assistant_pb2, events_pb2

A, E = assistant_pb2, events_pb2
Context = grpc.aio.ServicerContext[Any, Any]
Event = tuple[str, Message]
TurnRequest = A.ProcessMessageRequest | A.StreamReplyRequest
ChatRequests = A.CompleteChatRequest | A.StreamCompleteChatRequest
R = TypeVar("R", bound=Message)


def turn_input(request: TurnRequest) -> TurnInput:
    identity = authn.caller()
    override = Balance.of(request.hemisphere) if request.HasField("hemisphere") else None
    streamed = isinstance(request, A.StreamReplyRequest)
    return TurnInput(
        owner=identity.subject, admin=identity.is_admin, message=request.message,
        conversation=request.conversation, context=convert.plain(request.context),
        model=request.model, sampling=request.sampling, hemisphere=override,
        disable_tools=request.disable_tools, request_id=request.request_id,
        channel=E.REPLY_CHANNEL_STREAM if streamed else E.REPLY_CHANNEL_PROCESS,
    )  # fmt: skip


def completed(outcome: Outcome, reply_name: str = "") -> A.ReplyCompleted:
    return A.ReplyCompleted(
        reply_message=reply_name, text=outcome.text, model=outcome.model,
        usage=outcome.usage(), timing=outcome.timing(),
        finish_reason=convert.finish_reason(outcome.finish),
    )  # fmt: skip


def event_message(make: Callable[..., R], kind: str, message: Message) -> R:
    """A stream response with one event of its `oneof` set."""
    return make(**{kind: message})


async def as_stream(events: AsyncIterator[Event], make: Callable[..., R]) -> AsyncIterator[R]:
    """Stream events as response messages; a failure after `started` becomes the last
    event (`error`), one before it ends the call with its status."""
    started = False
    try:
        async for kind, message in events:
            started = True
            yield event_message(make, kind, message)
    except errors.VokaError as exc:
        if not started:
            raise
        yield make(error=exc.to_status())


class ReplyRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

    async def _turn_events(self, turn: Turn, request_id: str) -> AsyncGenerator[Event, None]:
        """started, deltas and tool events, completed; the turn is stored whatever happens
        (a cancelled or failed reply keeps its partial text and finish reason)."""
        deps = self._deps
        async with deps.replies.slot(turn.provider) as waited:
            turn.outcome.queue = waited
            await deps.turns.store_user(turn, request_id)
            live = deps.live.setdefault(turn.conversation.id, set())
            task = asyncio.current_task()
            assert task is not None
            live.add(task)
            yield "started", A.ReplyStarted(
                conversation=turn.conversation.name, conversation_created=turn.created,
                user_message=turn.user.name, model=turn.outcome.model,
                hemisphere=turn.balance.balance.message())  # fmt: skip
            try:
                # Closed with this generator, so a reply left mid-way is marked cancelled.
                async with aclosing(deps.replies.events(turn, deps.turns.tool_name)) as events:
                    async for event in events:
                        yield event
            finally:
                live.discard(task)
                turn.reply = await asyncio.shield(deps.turns.finish(turn))
        yield "completed", completed(turn.outcome, turn.reply.name)

    async def _replayed(self, ask: TurnInput) -> list[A.Message]:
        if ask.conversation and ask.request_id:
            await self._deps.turns.visible(ask.conversation.removeprefix("conversations/"),
                                           ask.owner, ask.admin)  # fmt: skip
        return await self._deps.turns.replay(ask.conversation, ask.request_id)

    async def ProcessMessage(
        self, request: A.ProcessMessageRequest, context: Context
    ) -> A.ProcessMessageResponse:
        validation.require(validation.turn(request))
        ask = turn_input(request)
        stored = await self._replayed(ask)
        if stored:
            return _replayed_response(ask.conversation, stored)
        turn = await self._deps.turns.begin(ask)
        async for _ in self._turn_events(turn, ask.request_id):
            pass
        assert turn.reply is not None
        return A.ProcessMessageResponse(
            conversation=turn.conversation.name, conversation_created=turn.created,
            user_message=turn.user, reply=turn.reply, tool_calls=turn.outcome.calls,
            tool_results=turn.outcome.results, hemisphere=turn.balance.balance.message(),
            hemisphere_source=turn.balance.source,
        )  # fmt: skip

    async def StreamReply(
        self, request: A.StreamReplyRequest, context: Context
    ) -> AsyncIterator[A.StreamReplyResponse]:
        validation.require(validation.turn(request))
        ask = turn_input(request)
        stored = await self._replayed(ask)
        if stored:
            for kind, message in _replayed_events(ask.conversation, stored):
                yield event_message(A.StreamReplyResponse, kind, message)
            return
        turn = await self._deps.turns.begin(ask)
        async for event in as_stream(self._turn_events(turn, ask.request_id),
                                     A.StreamReplyResponse):  # fmt: skip
            yield event

    async def _chat(self, request: ChatRequests) -> Chat:
        problems = validation.chat_messages(request.messages)
        problems += validation.sampling(request.sampling)
        problems += validation.balance(request.hemisphere, request.HasField("hemisphere"),
                                       "hemisphere")  # fmt: skip
        validation.require(problems + validation.tools(request.tools, "tools"))
        override = Balance.of(request.hemisphere) if request.HasField("hemisphere") else None
        return await self._deps.chats.prepare(ChatInput(
            owner=authn.caller().subject, messages=request.messages, model=request.model,
            sampling=request.sampling, hemisphere=override,
            context=convert.plain(request.context), tools=request.tools))  # fmt: skip

    async def _chat_events(self, chat: Chat) -> AsyncIterator[Event]:
        deps = self._deps
        async with deps.replies.slot(chat.provider) as waited:
            chat.outcome.queue = waited
            yield "started", A.ReplyStarted(model=chat.outcome.model,
                                            hemisphere=chat.balance.balance.message())  # fmt: skip
            try:
                async with aclosing(deps.replies.events(chat, deps.turns.tool_name)) as events:
                    async for event in events:
                        yield event
            finally:
                await asyncio.shield(deps.chats.finish(chat))
        yield "completed", completed(chat.outcome)

    async def CompleteChat(
        self, request: A.CompleteChatRequest, context: Context
    ) -> A.CompleteChatResponse:
        chat = await self._chat(request)
        async for _ in self._chat_events(chat):
            pass
        outcome = chat.outcome
        return A.CompleteChatResponse(
            message=A.ChatMessage(role=A.MESSAGE_ROLE_ASSISTANT, content=outcome.text),
            tool_calls=outcome.calls, tool_results=outcome.results, model=outcome.model,
            usage=outcome.usage(), timing=outcome.timing(),
            finish_reason=convert.finish_reason(outcome.finish),
        )  # fmt: skip

    async def StreamCompleteChat(
        self, request: A.StreamCompleteChatRequest, context: Context
    ) -> AsyncIterator[A.StreamCompleteChatResponse]:
        chat = await self._chat(request)
        async for event in as_stream(self._chat_events(chat), A.StreamCompleteChatResponse):
            yield event


def _replayed_response(conversation: str, stored: list[A.Message]) -> A.ProcessMessageResponse:
    """The answer a retried request id gets: the turn as stored."""
    user = next(m for m in stored if m.role == A.MESSAGE_ROLE_USER)
    reply = stored[-1]
    return A.ProcessMessageResponse(
        conversation=conversation, user_message=user, reply=reply,
        tool_calls=[c for m in stored for c in m.tool_calls],
        tool_results=[m.tool_result for m in stored if m.role == A.MESSAGE_ROLE_TOOL],
        hemisphere=reply.hemisphere,
    )  # fmt: skip


def _replayed_events(conversation: str, stored: list[A.Message]) -> list[Event]:
    """A stored turn as a stream: started, one delta, completed."""
    user, reply = stored[0], stored[-1]
    return [
        ("started", A.ReplyStarted(conversation=conversation, user_message=user.name,
                                   model=reply.model, hemisphere=reply.hemisphere)),
        ("delta", A.TextDelta(text=reply.content)),
        ("completed", A.ReplyCompleted(reply_message=reply.name, text=reply.content,
                                       model=reply.model, usage=reply.usage, timing=reply.timing,
                                       finish_reason=reply.finish_reason)),
    ]  # fmt: skip
