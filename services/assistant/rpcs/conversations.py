"""Conversation RPCs: create, read, list, update (rename, settings), delete, the messages of
one, and the caller's conversations live (WatchConversations, Server-Sent Events: `sync/`).
Callers see their own conversations, admins anyone's (`voka.tenancy`); a watch follows the
caller's own only."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from google.api import httpbody_pb2

from services.assistant import convert, validation
from services.assistant.conversation_store import ConversationQuery
from services.assistant.records import ConversationRecord
from services.assistant.rpcs.base import AssistantRpcs, Context
from services.assistant.sync.feed import Feed
from services.assistant.turns import now
from voka import authn, pagination, sse, tenancy
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

FULL_VIEW_MESSAGES = 1000


class ConversationsRpcs(AssistantRpcs):
    """Conversations and their messages."""

    async def _view(self, record: ConversationRecord, full: bool) -> assistant_pb2.Conversation:
        if not full:
            return convert.conversation(record)
        stored = await self._deps.messages.newest(record.id, FULL_VIEW_MESSAGES)
        return convert.conversation(record, [m.message for m in stored])

    def _model_problems(self, model: str, path: str) -> list[FieldViolation]:
        known = (m.id for m in self._deps.registry.models())
        return validation.known_model(model, known, path)

    async def CreateConversation(
        self, request: assistant_pb2.CreateConversationRequest, context: Context
    ) -> assistant_pb2.CreateConversationResponse:
        given = request.conversation
        problems = validation.conversation_fields(given, set(validation.UPDATABLE))
        if given.model:
            problems += self._model_problems(given.model, "conversation.model")
        validation.require(problems)
        record = await self._deps.turns.start_conversation(authn.caller().subject, given)
        return assistant_pb2.CreateConversationResponse(conversation=convert.conversation(record))

    async def GetConversation(
        self, request: assistant_pb2.GetConversationRequest, context: Context
    ) -> assistant_pb2.GetConversationResponse:
        record = await self._conversation(request.name)
        full = request.view != assistant_pb2.CONVERSATION_VIEW_BASIC
        return assistant_pb2.GetConversationResponse(conversation=await self._view(record, full))

    async def ListConversations(
        self, request: assistant_pb2.ListConversationsRequest, context: Context
    ) -> assistant_pb2.ListConversationsResponse:
        query = ConversationQuery(tenancy.list_owner(request.owner), request.query.strip())
        key = pagination.fingerprint(query.owner, query.title)
        size, problems = pagination.page_size(request.page_size)
        after, bad = pagination.keyset_cursor(request.page_token, key)
        validation.require(problems + bad)
        records, more = await self._deps.conversations.page(query, after, size)
        last = records[-1] if records and more else None
        token = pagination.keyset_token(key, last.activity_time, last.id) if last else ""
        full = request.view == assistant_pb2.CONVERSATION_VIEW_FULL
        return assistant_pb2.ListConversationsResponse(
            conversations=[await self._view(r, full) for r in records],
            next_page_token=token,
            total_size=await self._deps.conversations.count(query),
        )

    async def UpdateConversation(
        self, request: assistant_pb2.UpdateConversationRequest, context: Context
    ) -> assistant_pb2.UpdateConversationResponse:
        given = request.conversation
        record = await self._conversation(given.name, "conversation.name")
        fields = validation.update_fields(request)
        problems = validation.conversation_fields(given, fields)
        if "model" in fields and given.model:
            problems += self._model_problems(given.model, "conversation.model")
        validation.require(problems)
        changed = convert.updated_conversation(record, given, fields, now())
        await self._deps.conversations.update(changed)
        return assistant_pb2.UpdateConversationResponse(conversation=convert.conversation(changed))

    async def DeleteConversation(
        self, request: assistant_pb2.DeleteConversationRequest, context: Context
    ) -> assistant_pb2.DeleteConversationResponse:
        record = await self._conversation(request.name)
        self._deps.turns.stop_replies(record.id)
        await self._deps.conversations.delete(record.id)
        return assistant_pb2.DeleteConversationResponse()

    async def ListMessages(
        self, request: assistant_pb2.ListMessagesRequest, context: Context
    ) -> assistant_pb2.ListMessagesResponse:
        record = await self._conversation(request.parent, "parent")
        key = pagination.fingerprint(record.id)
        size, problems = pagination.page_size(request.page_size)
        start, bad = pagination.offset_of(request.page_token, key)
        validation.require(problems + bad)
        stored = await self._deps.messages.after(record.id, start - 1, size + 1)
        page, more = stored[:size], len(stored) > size
        token = pagination.offset_token(key, page[-1].seq + 1) if more else ""
        return assistant_pb2.ListMessagesResponse(
            messages=[m.message for m in page],
            next_page_token=token,
            total_size=record.message_count,
        )

    async def WatchConversations(
        self, request: assistant_pb2.WatchConversationsRequest, context: Context
    ) -> AsyncIterator[httpbody_pb2.HttpBody]:
        """The caller's conversations as SSE frames as they change, until the idle end or the
        client leaves; refused past the cap per caller before the first frame."""
        owner = authn.caller().subject
        with self._deps.live.cap.hold(owner):
            async with contextlib.aclosing(Feed(self._deps.live, owner).frames()) as frames:
                async for frame in frames:
                    yield sse.body(frame)
