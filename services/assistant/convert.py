"""From the service's records and the chat loop's values to the contract's messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from google.protobuf import json_format, struct_pb2

from services.assistant.providers.base import ToolCall
from services.assistant.records import ConversationRecord
from services.assistant.tools import ToolResult
from voka import wellknown
from voka.assistant.v1 import assistant_pb2

A = assistant_pb2
FINISH_REASONS: Mapping[str, A.FinishReason.ValueType] = {
    "stop": A.FINISH_REASON_STOP,
    "length": A.FINISH_REASON_LENGTH,
    "tool_calls": A.FINISH_REASON_TOOL_CALLS,
    "cancelled": A.FINISH_REASON_CANCELLED,
    "content_filter": A.FINISH_REASON_CONTENT_FILTER,
    "error": A.FINISH_REASON_ERROR,
}


def struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(dict(values))
    return message


def plain(message: struct_pb2.Struct) -> dict[str, Any]:
    """A Struct as plain JSON values (integers stay floats, as JSON numbers)."""
    return json_format.MessageToDict(message)


ROLES: Mapping[int, str] = {
    A.MESSAGE_ROLE_USER: "user",
    A.MESSAGE_ROLE_ASSISTANT: "assistant",
    A.MESSAGE_ROLE_TOOL: "tool",
    A.MESSAGE_ROLE_SYSTEM: "system",
}


def provider_calls(calls: Iterable[A.ToolCall]) -> tuple[ToolCall, ...]:
    """Stored or sent tool calls as the providers take them (the bare tool name)."""
    return tuple(ToolCall(c.id, c.tool.rsplit("/", 1)[-1], plain(c.arguments)) for c in calls)


def finish_reason(reason: str) -> A.FinishReason.ValueType:
    return FINISH_REASONS.get(reason, A.FINISH_REASON_UNSPECIFIED)


def usage(input_tokens: int, output_tokens: int) -> A.TokenUsage:
    return A.TokenUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def tool_call(call: ToolCall, tool: str) -> A.ToolCall:
    """`tool` is the call's resource name, `servers/{server}/tools/{tool}`."""
    return A.ToolCall(id=call.id, tool=tool, arguments=struct(call.arguments))


def tool_result(result: ToolResult, tool: str) -> A.ToolResult:
    return A.ToolResult(
        tool_call_id=result.call_id,
        tool=tool,
        content=result.content,
        is_error=result.is_error,
        duration=wellknown.duration(result.duration_ms / 1000),
    )


def conversation(
    record: ConversationRecord, messages: Sequence[A.Message] | None = None
) -> A.Conversation:
    """The resource; `messages` None gives the BASIC view."""
    message = A.Conversation(
        name=record.name,
        display_name=record.display_name,
        owner=record.owner,
        model=record.model,
        instructions=record.instructions,
        context=struct(record.context),
        tool_policy=A.ToolPolicy(allowed_tools=record.allowed_tools),
        message_count=record.message_count,
        usage=usage(record.input_tokens, record.output_tokens),
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
