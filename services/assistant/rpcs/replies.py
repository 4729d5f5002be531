"""Reply RPCs: ProcessMessage (unary) and StreamReply (token by token), each a turn of a
conversation (a new one when the request names none). A request id makes a turn idempotent: a
retry gets the stored turn again. The transcriptions a turn refers to are read from the speech
service as the caller before anything is stored (`transcripts`). Overload is RESOURCE_EXHAUSTED
before anything is stored or streamed."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

from services.assistant import convert, transcripts, validation
from services.assistant.hemisphere import Balance
from services.assistant.records import ConversationRecord
from services.assistant.rpcs.base import (
    AssistantRpcs,
    Context,
    as_stream,
    forwarded,
    response,
)
from services.assistant.turns import TurnInput
from voka import authn
from voka.assistant.v1 import assistant_pb2, events_pb2

TurnRequest = assistant_pb2.ProcessMessageRequest | assistant_pb2.StreamReplyRequest


def turn_input(request: TurnRequest) -> TurnInput:
    override = Balance.of(request.hemisphere) if request.HasField("hemisphere") else None
    streamed = isinstance(request, assistant_pb2.StreamReplyRequest)
    return TurnInput(
        owner=authn.caller().subject,
        message=request.message,
        conversation=request.conversation,
        context=convert.plain(request.context),
        model=request.model,
        sampling=request.sampling,
        hemisphere=override,
        disable_tools=request.disable_tools,
        request_id=request.request_id,
        channel=events_pb2.REPLY_CHANNEL_STREAM if streamed else events_pb2.REPLY_CHANNEL_PROCESS,
        images=tuple(request.images),
    )


class RepliesRpcs(AssistantRpcs):
    """Conversation turns, answered whole or streamed."""

    def _check(self, request: TurnRequest) -> None:
        """The turn's fields, its images within the service's bounds, its transcriptions'
        names."""
        images = self._deps.image_limits.violations(request.images)
        referred = transcripts.violations(request.transcriptions)
        validation.require(validation.turn(request) + images + referred)

    async def _with_transcripts(
        self, ask: TurnInput, request: TurnRequest, context: Context
    ) -> TurnInput:
        """The turn with the transcriptions it refers to, read as the caller."""
        if not request.transcriptions:
            return ask
        read = await self._deps.transcripts.read(request.transcriptions, forwarded(context))
        return dataclasses.replace(ask, transcripts=read)

    async def _record(self, ask: TurnInput) -> ConversationRecord | None:
        """The turn's conversation (None: a new one), if the caller may see it."""
        if not ask.conversation:
            return None
        return await self._conversation(ask.conversation, "conversation")

    async def ProcessMessage(
        self, request: assistant_pb2.ProcessMessageRequest, context: Context
    ) -> assistant_pb2.ProcessMessageResponse:
        self._check(request)
        ask = turn_input(request)
        record = await self._record(ask)
        stored = await self._deps.turns.replay(ask.conversation, ask.request_id)
        if stored:
            return convert.replayed_reply(ask.conversation, stored)
        ask = await self._with_transcripts(ask, request, context)
        turn = await self._deps.turns.begin(ask, record)
        async for _ in self._deps.turns.stream(turn, ask.request_id):
            pass
        assert turn.reply is not None
        return assistant_pb2.ProcessMessageResponse(
            conversation=turn.conversation.name,
            conversation_created=turn.created,
            user_message=turn.user,
            reply=turn.reply,
            tool_calls=turn.outcome.calls,
            tool_results=turn.outcome.results,
            hemisphere=turn.balance.balance.message(),
            hemisphere_source=turn.balance.source,
        )

    async def StreamReply(
        self, request: assistant_pb2.StreamReplyRequest, context: Context
    ) -> AsyncIterator[assistant_pb2.StreamReplyResponse]:
        self._check(request)
        ask = turn_input(request)
        record = await self._record(ask)
        stored = await self._deps.turns.replay(ask.conversation, ask.request_id)
        if stored:
            for kind, message in convert.replayed_events(ask.conversation, stored):
                yield response(assistant_pb2.StreamReplyResponse, kind, message)
            return
        ask = await self._with_transcripts(ask, request, context)
        turn = await self._deps.turns.begin(ask, record)
        events = self._deps.turns.stream(turn, ask.request_id)
        async for event in as_stream(events, assistant_pb2.StreamReplyResponse):
            yield event
