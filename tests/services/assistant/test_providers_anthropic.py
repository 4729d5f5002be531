"""The Anthropic adapter against a real HTTP server speaking the Messages API's stream format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.assistant.providers.anthropic import API_VERSION, AnthropicProvider
from services.assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    ProviderEvent,
    ProviderUnavailable,
    Sampling,
    TokenDelta,
    ToolCall,
    ToolCallRequested,
    ToolSpec,
)
from tests.services.assistant.scripted_api import Answer, ScriptedApi, anthropic_stream
from tests.services.assistant.support import drain, remote_entry

LOOKUP = ToolSpec(
    "lookup",
    "The capital city of a country.",
    {"type": "object", "properties": {"country": {"type": "string"}}},
)
REQUEST = ChatRequest(
    model="anthropic-model",
    messages=(
        ChatMessage("system", "Be brief."),
        ChatMessage("system", "Answer in English."),
        ChatMessage("user", "Capital of Spain?"),
    ),
    sampling=Sampling(max_tokens=16, temperature=0.3, stop=("END",)),
    tools=(LOOKUP,),
)


@pytest.fixture
async def provider(scripted_api: ScriptedApi, tmp_path: Path) -> AsyncIterator[AnthropicProvider]:
    key_file = tmp_path / "anthropic.key"
    key_file.write_text("sk-ant-test\n")
    provider = AnthropicProvider(remote_entry("anthropic", scripted_api.url, api_key_file=key_file))
    yield provider
    await provider.aclose()


async def collect(stream: AsyncIterator[ProviderEvent]) -> list[ProviderEvent]:
    return [event async for event in stream]


async def test_streams_text_and_sends_a_messages_request(
    provider: AnthropicProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(anthropic_stream(["Mad", "rid."], usage=(25, 3)))
    events = await collect(provider.stream(REQUEST))
    assert events == [TokenDelta("Mad"), TokenDelta("rid."), Finished("stop", 25, 3)]
    [sent] = scripted_api.received
    assert sent.path == "/v1/messages"
    assert (sent.headers["x-api-key"], sent.headers["anthropic-version"]) == (
        "sk-ant-test",
        API_VERSION,
    )
    assert sent.body == {
        "model": "anthropic-remote-name",
        "max_tokens": 16,
        "temperature": 0.3,
        "system": "Be brief.\n\nAnswer in English.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Capital of Spain?"}]}],
        "stream": True,
        "stop_sequences": ["END"],
        "tools": [
            {"name": "lookup", "description": LOOKUP.description, "input_schema": LOOKUP.parameters}
        ],
    }


async def test_tool_use_blocks_become_tool_calls(
    provider: AnthropicProvider, scripted_api: ScriptedApi
) -> None:
    calls = [
        ("toolu_1", "lookup", {"country": "Spain"}),
        ("toolu_2", "lookup", {"country": "Japan"}),
    ]
    scripted_api.script.append(anthropic_stream(["Let me check."], calls, stop_reason="tool_use"))
    events = await collect(provider.stream(REQUEST))
    assert events == [
        TokenDelta("Let me check."),
        ToolCallRequested(ToolCall("toolu_1", "lookup", {"country": "Spain"})),
        ToolCallRequested(ToolCall("toolu_2", "lookup", {"country": "Japan"})),
        Finished("tool_calls", 20, 4),
    ]


async def test_tool_results_travel_as_one_user_turn(
    provider: AnthropicProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(anthropic_stream(["Madrid and Tokyo."]))
    calls = (
        ToolCall("toolu_1", "lookup", {"country": "Spain"}),
        ToolCall("toolu_2", "lookup", {"country": "Japan"}),
    )
    history = (
        *REQUEST.messages,
        ChatMessage("assistant", "Let me check.", tool_calls=calls),
        ChatMessage("tool", "Madrid", tool_call_id="toolu_1"),
        ChatMessage("tool", "Tokyo", tool_call_id="toolu_2"),
    )
    await collect(provider.stream(ChatRequest(REQUEST.model, history, REQUEST.sampling)))
    assert scripted_api.received[0].body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "lookup",
                    "input": {"country": "Spain"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "lookup",
                    "input": {"country": "Japan"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Madrid"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "Tokyo"},
            ],
        },
    ]


async def test_overload_is_retried_before_the_first_token(
    provider: AnthropicProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script += [Answer(status=529), anthropic_stream(["fine"])]
    events = await collect(provider.stream(REQUEST))
    assert events[0] == TokenDelta("fine")
    assert len(scripted_api.received) == 2


async def test_an_error_event_mid_stream_is_unavailable(
    provider: AnthropicProvider, scripted_api: ScriptedApi
) -> None:
    overloaded = {"type": "overloaded_error", "message": "Overloaded"}
    scripted_api.script.append(anthropic_stream(["Mad"], error=overloaded))
    seen: list[ProviderEvent] = []
    with pytest.raises(ProviderUnavailable, match=r"'test-anthropic'.*Overloaded"):
        await drain(provider.stream(REQUEST), seen)
    assert seen == [TokenDelta("Mad")]


async def test_breaker_opens_when_down(
    provider: AnthropicProvider, scripted_api: ScriptedApi
) -> None:
    await scripted_api.stop()
    for _ in range(2):
        with pytest.raises(ProviderUnavailable, match="ConnectError"):
            await collect(provider.stream(REQUEST))
    with pytest.raises(ProviderUnavailable, match="circuit open"):
        await collect(provider.stream(REQUEST))
    assert (await provider.health()).state == "open"
