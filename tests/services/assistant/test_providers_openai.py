"""The OpenAI-compatible adapter against a real HTTP server speaking that protocol."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from services.assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    ProviderEvent,
    ProviderRejected,
    ProviderUnavailable,
    Sampling,
    TokenDelta,
    ToolCall,
    ToolCallRequested,
    ToolSpec,
)
from services.assistant.providers.openai import OpenAIProvider
from services.assistant.providers.registry import ProviderRegistry
from services.assistant.settings import AssistantSettings
from tests.services.assistant.scripted_api import Answer, ScriptedApi, openai_stream
from tests.services.assistant.support import drain, remote_entry

ADD = ToolSpec(
    "add",
    "Add two integers.",
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
)
REQUEST = ChatRequest(
    model="openai-model",
    messages=(ChatMessage("system", "Be brief."), ChatMessage("user", "What is 2 + 3?")),
    sampling=Sampling(max_tokens=16, temperature=0.2, top_p=0.9, stop=("\n\n",)),
)


@pytest.fixture
async def provider(
    scripted_api: ScriptedApi, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[OpenAIProvider]:
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-test-123")
    entry = remote_entry("openai", f"{scripted_api.url}/v1", api_key_env="TEST_OPENAI_KEY")
    provider = OpenAIProvider(entry)
    yield provider
    await provider.aclose()


async def collect(stream: AsyncIterator[ProviderEvent]) -> list[ProviderEvent]:
    return [event async for event in stream]


async def test_streams_tokens_and_sends_the_request_openai_expects(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(openai_stream(["Two", " plus three", " is five."], usage=(31, 6)))
    events = await collect(provider.stream(REQUEST))
    assert events == [
        TokenDelta("Two"),
        TokenDelta(" plus three"),
        TokenDelta(" is five."),
        Finished("stop", 31, 6),
    ]
    [sent] = scripted_api.received
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.body == {
        "model": "openai-remote-name",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 2 + 3?"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 16,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": ["\n\n"],
    }


async def test_tokens_arrive_as_they_are_sent(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(openai_stream(["a", "b", "c"], gap=0.3))
    loop = asyncio.get_running_loop()
    started = loop.time()
    seen = [(loop.time() - started, event) async for event in provider.stream(REQUEST)]
    first, last = seen[0][0], seen[-1][0]
    assert seen[0][1] == TokenDelta("a")
    assert last - first >= 0.5  # the first token did not wait for the rest


async def test_tool_calls_are_assembled_from_streamed_fragments(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    calls = [("call_a", "add", {"a": 2, "b": 3}), ("call_b", "lookup", {"country": "Spain"})]
    scripted_api.script.append(openai_stream(calls=calls, finish="tool_calls", usage=None))
    request = ChatRequest(REQUEST.model, REQUEST.messages, REQUEST.sampling, tools=(ADD,))
    events = await collect(provider.stream(request))
    assert events[:2] == [
        ToolCallRequested(ToolCall("call_a", "add", {"a": 2, "b": 3})),
        ToolCallRequested(ToolCall("call_b", "lookup", {"country": "Spain"})),
    ]
    finished = events[2]
    assert isinstance(finished, Finished)
    assert finished.reason == "tool_calls"
    assert finished.prompt_tokens > 0  # estimated: this server sent no usage
    assert scripted_api.received[0].body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "add",
                "description": ADD.description,
                "parameters": ADD.parameters,
            },
        }
    ]


async def test_tool_history_goes_back_in_openai_form(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(openai_stream(["5"]))
    call = ToolCall("call_a", "add", {"a": 2, "b": 3})
    history = (
        *REQUEST.messages,
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage("tool", "5", tool_call_id="call_a"),
    )
    await collect(provider.stream(ChatRequest(REQUEST.model, history, REQUEST.sampling)))
    assert scripted_api.received[0].body["messages"][2:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": "5"},
    ]


async def test_server_errors_are_retried_before_the_first_token(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script += [Answer(status=500), Answer(status=429), openai_stream(["ok"])]
    events = await collect(provider.stream(REQUEST))
    assert events[0] == TokenDelta("ok")
    assert len(scripted_api.received) == 3
    health = await provider.health()
    assert (health.healthy, health.state) == (True, "closed")


async def test_errors_past_the_retries_are_unavailable_naming_the_provider(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script += [Answer(status=503)] * 3
    with pytest.raises(ProviderUnavailable, match=r"'test-openai'.*HTTP 503.*after 3 attempts"):
        await collect(provider.stream(REQUEST))


async def test_a_refusal_is_not_retried(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    scripted_api.script += [Answer(status=401), openai_stream(["never"])]
    with pytest.raises(ProviderRejected, match="HTTP 401"):
        await collect(provider.stream(REQUEST))
    assert len(scripted_api.received) == 1
    assert (await provider.health()).state == "closed"


async def test_a_stalled_stream_is_unavailable_not_a_hang(scripted_api: ScriptedApi) -> None:
    provider = OpenAIProvider(remote_entry("openai", f"{scripted_api.url}/v1", read_timeout=0.2))
    scripted_api.script.append(openai_stream(["slow", "er"], gap=1.0))
    seen: list[ProviderEvent] = []
    with pytest.raises(ProviderUnavailable, match="stream broke: ReadTimeout"):
        await drain(provider.stream(REQUEST), seen)
    assert seen == []  # the role chunk came, then nothing for longer than read_timeout
    await provider.aclose()


async def test_an_error_chunk_mid_stream_is_unavailable(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    partial = openai_stream(["Two"])
    error = ("", {"error": {"message": "model crashed", "code": 500}})
    scripted_api.script.append(Answer(events=(*partial.events[:2], error)))
    seen: list[ProviderEvent] = []
    with pytest.raises(ProviderUnavailable, match=r"'test-openai'.*model crashed"):
        await drain(provider.stream(REQUEST), seen)
    assert seen == [TokenDelta("Two")]


async def test_breaker_opens_when_down_and_closes_after_its_pause(
    provider: OpenAIProvider, scripted_api: ScriptedApi
) -> None:
    await scripted_api.stop()  # connections are refused from now on
    loop = asyncio.get_running_loop()
    for _ in range(2):  # breaker_failures=2, each after 3 refused connects
        with pytest.raises(ProviderUnavailable, match="ConnectError"):
            await collect(provider.stream(REQUEST))
    started = loop.time()
    with pytest.raises(ProviderUnavailable, match="circuit open"):
        await collect(provider.stream(REQUEST))
    assert loop.time() - started < 0.05  # refused at once, no connection tried
    health = await provider.health()
    assert (health.healthy, health.state) == (False, "open")
    assert "ConnectError" in health.detail

    await scripted_api.start()  # back on the same port
    scripted_api.script.append(openai_stream(["back"]))
    await asyncio.sleep(0.35)  # breaker_reset_seconds=0.3: the next call is the trial
    assert (await provider.health()).state == "half_open"
    events = await collect(provider.stream(REQUEST))
    assert events[0] == TokenDelta("back")
    assert (await provider.health()).state == "closed"


async def test_providers_are_configured_from_the_environment(
    scripted_api: ScriptedApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = {"name": "gw", "kind": "openai", "base_url": f"{scripted_api.url}/v1"}
    gateway |= {"api_key_env": "GW_KEY", "models": [{"id": "fast", "remote_name": "gpt-x"}]}
    claude = {
        "name": "claude",
        "kind": "anthropic",
        "models": [{"id": "deep", "context_window": 200000}],
    }
    entries = [gateway, claude]
    monkeypatch.setenv("VOKA_ASSISTANT_PROVIDERS", json.dumps(entries))
    monkeypatch.setenv("VOKA_ASSISTANT_DEFAULT_MODEL", "fast")
    monkeypatch.setenv("GW_KEY", "sk-env")
    registry = ProviderRegistry.from_settings(AssistantSettings(service="assistant"))
    assert [(m.id, m.provider, m.context_window) for m in registry.models()] == [
        ("fast", "gw", 8192),
        ("deep", "claude", 200000),
    ]
    provider, info = registry.resolve(None)
    assert info.id == "fast"
    scripted_api.script.append(openai_stream(["hi"]))
    request = ChatRequest("fast", REQUEST.messages, REQUEST.sampling)
    assert (await collect(provider.stream(request)))[0] == TokenDelta("hi")
    sent = scripted_api.received[0]
    assert (sent.body["model"], sent.headers["authorization"]) == ("gpt-x", "Bearer sk-env")
    await registry.aclose()


def test_a_provider_entry_with_an_unknown_field_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {"name": "x", "kind": "openai", "models": [{"id": "m"}], "api_key": "sk-in-the-repo"}
    monkeypatch.setenv("VOKA_ASSISTANT_PROVIDERS", json.dumps([entry]))
    with pytest.raises(ValidationError, match="api_key"):
        AssistantSettings(service="assistant")
