"""Between the service's records and the chat loop's values and the contract's messages, in
one place, so every RPC shows a conversation, a message or a replayed turn the same way."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from services.assistant.providers.base import ToolCall
from services.assistant.records import ConversationRecord, McpGrantRecord
from services.assistant.tools import ToolResult
from voka import wellknown
from voka.assistant.v1 import assistant_pb2

FINISH_REASONS: Mapping[str, assistant_pb2.FinishReason.ValueType] = {
    "stop": assistant_pb2.FINISH_REASON_STOP,
    "length": assistant_pb2.FINISH_REASON_LENGTH,
    "tool_calls": assistant_pb2.FINISH_REASON_TOOL_CALLS,
    "cancelled": assistant_pb2.FINISH_REASON_CANCELLED,
    "content_filter": assistant_pb2.FINISH_REASON_CONTENT_FILTER,
    "error": assistant_pb2.FINISH_REASON_ERROR,
}


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


def plain(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON values (integers stay floats, as JSON numbers)."""
    return json_format.MessageToDict(message)


ROLES: Mapping[int, str] = {
    assistant_pb2.MESSAGE_ROLE_USER: "user",
    assistant_pb2.MESSAGE_ROLE_ASSISTANT: "assistant",
    assistant_pb2.MESSAGE_ROLE_TOOL: "tool",
    assistant_pb2.MESSAGE_ROLE_SYSTEM: "system",
}


def provider_calls(calls: Iterable[assistant_pb2.ToolCall]) -> tuple[ToolCall, ...]:
    """Stored or sent tool calls as the providers take them (the bare tool name)."""
    return tuple(ToolCall(c.id, c.tool.rsplit("/", 1)[-1], plain(c.arguments)) for c in calls)


def finish_reason(reason: str) -> assistant_pb2.FinishReason.ValueType:
    return FINISH_REASONS.get(reason, assistant_pb2.FINISH_REASON_UNSPECIFIED)


def usage(input_tokens: int, output_tokens: int) -> assistant_pb2.TokenUsage:
    return assistant_pb2.TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def tool_call(call: ToolCall, tool: str) -> assistant_pb2.ToolCall:
    """`tool` is the call's resource name, `servers/{server}/tools/{tool}`."""
    return assistant_pb2.ToolCall(id=call.id, tool=tool, arguments=struct(call.arguments))


def tool_result(result: ToolResult, tool: str) -> assistant_pb2.ToolResult:
    return assistant_pb2.ToolResult(
        tool_call_id=result.call_id,
        tool=tool,
        content=result.content,
        is_error=result.is_error,
        duration=wellknown.duration(result.duration_ms / 1000),
    )


def conversation(
    record: ConversationRecord, messages: Sequence[assistant_pb2.Message] | None = None
) -> assistant_pb2.Conversation:
    """The resource; `messages` None gives the BASIC view."""
    message = assistant_pb2.Conversation(
        name=record.name,
        display_name=record.display_name,
        owner=record.owner,
        model=record.model,
        instructions=record.instructions,
        context=struct(record.context),
        tool_policy=assistant_pb2.ToolPolicy(allowed_tools=record.allowed_tools),
        message_count=record.message_count,
        usage=usage(record.input_tokens, record.output_tokens),
        context_summary=record.context_summary,
        messages=messages or (),
        create_time=wellknown.timestamp(record.create_time),
        update_time=wellknown.timestamp(record.update_time),
    )
    if record.technical is not None and record.emotional is not None:
        message.hemisphere.technical = record.technical
        message.hemisphere.emotional = record.emotional
    if record.tool_timeout is not None:
        message.tool_policy.tool_timeout.CopyFrom(wellknown.duration(record.tool_timeout))
    if record.last_message_time is not None:
        message.last_message_time.CopyFrom(wellknown.timestamp(record.last_message_time))
    return message


def mcp_grant(owner: str, record: McpGrantRecord | None) -> assistant_pb2.McpGrant:
    """A user's grant as the contract shows it; None: nothing granted (never, or revoked)."""
    message = assistant_pb2.McpGrant(name=f"{owner}/mcpGrant")
    if record is not None:
        message.allowed_tools.extend(record.allowed_tools)
        message.update_time.CopyFrom(wellknown.timestamp(record.update_time))
    return message


def updated_conversation(
    record: ConversationRecord, given: assistant_pb2.Conversation, fields: set[str], now: datetime
) -> ConversationRecord:
    """`record` with the `fields` of an UpdateConversation request's conversation applied."""
    changes: dict[str, Any] = {"update_time": now}
    for name in ("display_name", "model", "instructions"):
        if name in fields:
            changes[name] = getattr(given, name)
    if "context" in fields:
        changes["context"] = plain(given.context)
    if "hemisphere" in fields:
        present = given.HasField("hemisphere")
        changes.update(
            technical=given.hemisphere.technical if present else None,
            emotional=given.hemisphere.emotional if present else None,
            hemisphere_time=now if present else None,
        )
    if "tool_policy" in fields:
        policy = given.tool_policy
        changes["allowed_tools"] = tuple(policy.allowed_tools)
        changes["tool_timeout"] = (
            policy.tool_timeout.ToTimedelta().total_seconds()
            if policy.HasField("tool_timeout")
            else None
        )
    return dataclasses.replace(record, **changes)


def replayed_reply(
    conversation: str, stored: Sequence[assistant_pb2.Message]
) -> assistant_pb2.ProcessMessageResponse:
    """The answer a retried request id gets: the turn as stored."""
    user = next(m for m in stored if m.role == assistant_pb2.MESSAGE_ROLE_USER)
    reply = stored[-1]
    return assistant_pb2.ProcessMessageResponse(
        conversation=conversation,
        user_message=user,
        reply=reply,
        tool_calls=[c for m in stored for c in m.tool_calls],
        tool_results=[m.tool_result for m in stored if m.role == assistant_pb2.MESSAGE_ROLE_TOOL],
        hemisphere=reply.hemisphere,
    )


def replayed_events(
    conversation: str, stored: Sequence[assistant_pb2.Message]
) -> list[tuple[str, Message]]:
    """A stored turn as a stream: started, one delta, completed."""
    user, reply = stored[0], stored[-1]
    started = assistant_pb2.ReplyStarted(
        conversation=conversation,
        user_message=user.name,
        model=reply.model,
        hemisphere=reply.hemisphere,
    )
    completed = assistant_pb2.ReplyCompleted(
        reply_message=reply.name,
        text=reply.content,
        model=reply.model,
        usage=reply.usage,
        timing=reply.timing,
        finish_reason=reply.finish_reason,
    )
    return [
        ("started", started),
        ("delta", assistant_pb2.TextDelta(text=reply.content)),
        ("completed", completed),
    ]
