"""OpenAI chat request bodies parsed into the chat machinery's types: every field OpenAI
documents that the API takes, OpenAI's names in every violation (all at once), unknown fields
ignored, and the per-model limits."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from services.assistant.openai import request
from services.assistant.providers.base import ModelInfo, ToolSpec
from voka.assistant.v1 import assistant_pb2
from voka.errors import VokaError

ADD = {"type": "function", "function": {"name": "add", "description": "a + b",
                                        "parameters": {"type": "object"}}}  # fmt: skip
LOCAL = ModelInfo("small", "local", 2048, supports_tools=False, supports_streaming=True)
REMOTE = ModelInfo("big", "openai", 8192, supports_tools=True, supports_streaming=True)


def parse(**body: Any) -> request.ChatCompletionAsk:
    return request.parse(json.dumps(body).encode())


def violations(data: bytes) -> dict[str, str]:
    """The field violations INVALID_ARGUMENT carries for a body, by field."""
    with pytest.raises(VokaError) as refused:
        request.parse(data)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    (detail,) = refused.value.details
    assert isinstance(detail, error_details_pb2.BadRequest)
    return {v.field: v.description for v in detail.field_violations}


def test_a_full_request_becomes_the_chat_it_asks_for() -> None:
    ask = parse(
        model="big",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "2 + 3?"},
                                         {"type": "text", "text": "Use the tool."}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "5"},
        ],
        temperature=0.2, top_p=0.9, max_tokens=10, max_completion_tokens=20, stop="END",
        seed=7, presence_penalty=0.5, n=1, user="u-1", stream=True,
        stream_options={"include_usage": True}, tools=[ADD], tool_choice="auto",
        logit_bias={"1": 2}, metadata={"any": "thing"},  # not taken: ignored, as OpenAI does
    )  # fmt: skip
    roles = [assistant_pb2.MessageRole.Name(m.role) for m in ask.messages]
    assert roles == ["MESSAGE_ROLE_SYSTEM", "MESSAGE_ROLE_USER", "MESSAGE_ROLE_ASSISTANT",
                     "MESSAGE_ROLE_TOOL"]  # fmt: skip
    assert ask.own_system
    assert ask.messages[1].content == "2 + 3?\nUse the tool."
    (call,) = ask.messages[2].tool_calls
    assert (call.id, call.tool, dict(call.arguments)) == ("call_1", "add", {"a": 2, "b": 3})
    assert ask.messages[3].tool_call_id == "call_1"
    sampling = ask.sampling
    assert (sampling.temperature, sampling.top_p, sampling.seed) == (0.2, 0.9, 7)
    assert sampling.max_output_tokens == 20  # max_completion_tokens wins over max_tokens
    assert ask.max_tokens_field == "max_completion_tokens"
    assert list(sampling.stop_sequences) == ["END"]
    assert (ask.model, ask.stream, ask.include_usage) == ("big", True, True)
    assert ask.tools == (ToolSpec("add", "a + b", {"type": "object"}),)


def test_nulls_are_absent_and_tool_choice_none_drops_the_tools() -> None:
    ask = parse(messages=[{"role": "user", "content": "hi"}], temperature=None, stop=None,
                max_tokens=None, stream=None, tools=[ADD], tool_choice="none")  # fmt: skip
    assert not ask.sampling.HasField("temperature")
    assert ask.sampling.max_output_tokens == 0  # the service's default
    assert not ask.stream
    assert ask.tools == ()
    assert not ask.own_system


def test_every_wrong_field_is_named_at_once() -> None:
    body = {
        "model": 5,
        "messages": [
            {"role": "robot", "content": "hi"},
            {"role": "user", "content": 5},
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "x"}}]},
            {"role": "tool", "content": "5"},
            {"role": "assistant", "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}]},
            "hello",
            {"role": "user", "content": "x" * 40000},
        ],
        "temperature": "hot", "top_p": 2, "n": 2, "stop": [1], "max_tokens": 0,
        "stream_options": {"include_usage": True}, "tools": [{"type": "code"}],
        "tool_choice": "always", "user": 3,
    }  # fmt: skip
    found = violations(json.dumps(body).encode())
    assert set(found) == {
        "model", "messages[0].role", "messages[1].content", "messages[2].content[0].type",
        "messages[3].tool_call_id", "messages[4].tool_calls[0].function.arguments",
        "messages[5]", "messages[6].content", "temperature", "top_p", "n", "stop",
        "max_tokens", "stream_options", "tools[0].type", "tool_choice", "user",
    }  # fmt: skip
    assert found["n"] == "only 1 choice per request is supported"
    assert found["temperature"] == "must be a number"
    assert found["top_p"] == "must be between 0 and 1"
    assert found["messages[6].content"] == "at most 32000 characters"


@pytest.mark.parametrize(
    ("data", "description"),
    [
        (b"", "must be a JSON object"),
        (b"[1, 2]", "must be a JSON object"),
        (b"{nope", "not JSON"),
        (b'{"x": "' + b"a" * request.MAX_BODY_BYTES + b'"}', "at most 1048576 bytes"),
    ],
)
def test_a_body_that_is_no_json_object_is_refused(data: bytes, description: str) -> None:
    assert violations(data)["body"].startswith(description)


def test_messages_are_required_and_bounded() -> None:
    assert violations(b"{}") == {"messages": "is required"}
    many = [{"role": "user", "content": "hi"}] * (request.MAX_MESSAGES + 1)
    assert violations(json.dumps({"messages": many}).encode()) == {"messages": "at most 256 items"}
    assert violations(b'{"messages": []}') == {"messages": "at least one message is required"}


def test_limits_of_the_chosen_model() -> None:
    ask = parse(messages=[{"role": "user", "content": "hi"}], max_tokens=300, tools=[ADD])
    local = {v.field: v.description for v in request.limits(ask, LOCAL, max_output=256)}
    assert local == {
        "max_tokens": "at most 256 for 'small'",
        "tools": "model 'small' does not support tool calls; leave tools out or set "
        'tool_choice to "none"',
    }
    assert request.limits(ask, REMOTE, max_output=512) == []
