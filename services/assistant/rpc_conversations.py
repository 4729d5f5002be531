"""Conversation RPCs: create, read, list, update (rename, settings), delete, messages, and the
hemisphere balance of the caller or of one of their conversations."""

from __future__ import annotations

import dataclasses
from typing import Any

import grpc

from services.assistant import convert, hemisphere, validation
from services.assistant.deps import Deps, owner_filter
from services.assistant.hemisphere import Balance, InForce
from services.assistant.records import ConversationRecord
from services.assistant.store import ConversationQuery
from services.assistant.turns import now
from voka import authn, pagination, wellknown
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

A = assistant_pb2
Context = grpc.aio.ServicerContext[Any, Any]
UPDATABLE = ("display_name", "model", "instructions", "context", "hemisphere", "tool_policy")
FULL_VIEW_MESSAGES = 1000


class ConversationRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

    async def _own(self, name: str, path: str = "name") -> ConversationRecord:
        conversation_id, problems = validation.resource_id(name, "conversations", path)
        validation.require(problems)
        identity = authn.caller()
        return await self._deps.turns.visible(conversation_id, identity.subject, identity.is_admin)

    async def _view(self, record: ConversationRecord, full: bool) -> A.Conversation:
        if not full:
            return convert.conversation(record)
        stored = await self._deps.store.newest_messages(record.id, FULL_VIEW_MESSAGES)
        return convert.conversation(record, [m.message for m in stored])

    async def CreateConversation(
        self, request: A.CreateConversationRequest, context: Context
    ) -> A.CreateConversationResponse:
        given = request.conversation
        problems = validation.conversation_fields(given, set(UPDATABLE))
        if given.model:
            problems += _model_problems(self._deps, given.model, "conversation.model")
        validation.require(problems)
        record = await self._deps.turns.start_conversation(authn.caller().subject, given)
        return A.CreateConversationResponse(conversation=convert.conversation(record))

    async def GetConversation(
        self, request: A.GetConversationRequest, context: Context
    ) -> A.GetConversationResponse:
        record = await self._own(request.name)
        full = request.view != A.CONVERSATION_VIEW_BASIC
        return A.GetConversationResponse(conversation=await self._view(record, full))

    async def ListConversations(
        self, request: A.ListConversationsRequest, context: Context
    ) -> A.ListConversationsResponse:
        query = ConversationQuery(owner_filter(request.owner), request.query.strip())
        key = pagination.fingerprint(query.owner, query.title)
        size, problems = pagination.page_size(request.page_size)
        after, bad = pagination.keyset_cursor(request.page_token, key)
        validation.require(problems + bad)
        records, more = await self._deps.store.conversations(query, after, size)
        last = records[-1] if records and more else None
        token = pagination.keyset_token(key, last.activity_time, last.id) if last else ""
        full = request.view == A.CONVERSATION_VIEW_FULL
        return A.ListConversationsResponse(
            conversations=[await self._view(r, full) for r in records],
            next_page_token=token,
            total_size=await self._deps.store.count_conversations(query),
        )

    async def UpdateConversation(
        self, request: A.UpdateConversationRequest, context: Context
    ) -> A.UpdateConversationResponse:
        given = request.conversation
        record = await self._own(given.name, "conversation.name")
        fields = _mask(request)
        problems = validation.conversation_fields(given, fields)
        if "model" in fields and given.model:
            problems += _model_problems(self._deps, given.model, "conversation.model")
        validation.require(problems)
        changed = _apply(record, given, fields)
        await self._deps.store.update_conversation(changed)
        return A.UpdateConversationResponse(conversation=convert.conversation(changed))

    async def DeleteConversation(
        self, request: A.DeleteConversationRequest, context: Context
    ) -> A.DeleteConversationResponse:
        record = await self._own(request.name)
        for task in self._deps.live.pop(record.id, set()):
            task.cancel()
        await self._deps.store.delete_conversation(record.id)
        return A.DeleteConversationResponse()

    async def ListMessages(
        self, request: A.ListMessagesRequest, context: Context
    ) -> A.ListMessagesResponse:
        record = await self._own(request.parent, "parent")
        key = pagination.fingerprint(record.id)
        size, problems = pagination.page_size(request.page_size)
        start, bad = pagination.offset_of(request.page_token, key)
        validation.require(problems + bad)
        stored = await self._deps.store.messages(record.id, start - 1, size + 1)
        page, more = stored[:size], len(stored) > size
        token = pagination.offset_token(key, page[-1].seq + 1) if more else ""
        return A.ListMessagesResponse(messages=[m.message for m in page], next_page_token=token,
                                      total_size=record.message_count)  # fmt: skip

    async def _balance(self, conversation: str) -> tuple[InForce, ConversationRecord | None]:
        record = await self._own(conversation, "conversation") if conversation else None
        owner = record.owner if record else authn.caller().subject
        return await self._deps.balances.in_force(owner, record), record

    async def GetHemisphereBalance(
        self, request: A.GetHemisphereBalanceRequest, context: Context
    ) -> A.GetHemisphereBalanceResponse:
        in_force, _ = await self._balance(request.conversation)
        response = A.GetHemisphereBalanceResponse(
            balance=in_force.balance.message(), source=in_force.source,
            conversation=request.conversation)  # fmt: skip
        if in_force.update_time is not None:
            response.update_time.CopyFrom(wellknown.timestamp(in_force.update_time))
        return response

    async def SetHemisphereBalance(
        self, request: A.SetHemisphereBalanceRequest, context: Context
    ) -> A.SetHemisphereBalanceResponse:
        validation.require(_balance_problems(request))
        record = await self._own(request.conversation, "conversation") if request.conversation \
            else None  # fmt: skip
        balance = None if request.reset else Balance.of(request.balance)
        if record is not None:
            stamp = None if balance is None else now()
            await self._deps.store.update_conversation(dataclasses.replace(
                record, technical=None if balance is None else balance.technical,
                emotional=None if balance is None else balance.emotional, hemisphere_time=stamp,
                update_time=now()))  # fmt: skip
        else:
            await self._deps.store.set_balance(authn.caller().subject, balance, now())
        in_force, _ = await self._balance(request.conversation)
        response = A.SetHemisphereBalanceResponse(
            balance=in_force.balance.message(), source=in_force.source,
            conversation=request.conversation)  # fmt: skip
        if in_force.update_time is not None:
            response.update_time.CopyFrom(wellknown.timestamp(in_force.update_time))
        return response


def _balance_problems(request: A.SetHemisphereBalanceRequest) -> list[FieldViolation]:
    present = request.HasField("balance")
    if request.reset and present:
        return [FieldViolation("balance", "must be unset with reset")]
    if not request.reset and not present:
        return [FieldViolation("balance", "is required unless reset")]
    problems = hemisphere.check(request.balance, "balance") if present else []
    if request.conversation:
        problems += validation.resource_id(request.conversation, "conversations",
                                           "conversation")[1]  # fmt: skip
    return problems


def _model_problems(deps: Deps, model: str, path: str) -> list[FieldViolation]:
    known = {m.id for m in deps.registry.models()}
    return [] if model in known else [FieldViolation(path, f"unknown model {model!r}")]


def _mask(request: A.UpdateConversationRequest) -> set[str]:
    """The fields to change: the mask's, or every populated settable field."""
    given = request.conversation
    if request.HasField("update_mask") and request.update_mask.paths:
        fields = set(request.update_mask.paths)
        unknown = sorted(fields - set(UPDATABLE))
        validation.require([FieldViolation("update_mask", f"cannot update {p!r}")
                            for p in unknown])  # fmt: skip
        return fields
    populated = {f.name for f, _ in given.ListFields()}
    return populated & set(UPDATABLE)


def _apply(
    record: ConversationRecord, given: A.Conversation, fields: set[str]
) -> ConversationRecord:
    changes: dict[str, Any] = {"update_time": now()}
    for name in ("display_name", "model", "instructions"):
        if name in fields:
            changes[name] = getattr(given, name)
    if "context" in fields:
        changes["context"] = convert.plain(given.context)
    if "hemisphere" in fields:
        present = given.HasField("hemisphere")
        changes.update(technical=given.hemisphere.technical if present else None,
                       emotional=given.hemisphere.emotional if present else None,
                       hemisphere_time=now() if present else None)  # fmt: skip
    if "tool_policy" in fields:
        policy = given.tool_policy
        changes["allowed_tools"] = tuple(policy.allowed_tools)
        changes["tool_timeout"] = (policy.tool_timeout.ToTimedelta().total_seconds()
                                   if policy.HasField("tool_timeout") else None)  # fmt: skip
    return dataclasses.replace(record, **changes)
