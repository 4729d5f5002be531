"""The turn loop: a tool call driven deterministically through the OpenAI-compatible adapter on
the scripted server, run on the real MCP server; the allow-list; cancellation of the local model."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from pathlib import Path

import pytest

from services.assistant.chat_loop import ChatEvent, ChatLoop, ToolCallEvent, ToolResultEvent
from services.assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    Sampling,
    TokenDelta,
    ToolCall,
)
from services.assistant.providers.local import LocalProvider
from services.assistant.providers.openai import OpenAIProvider
from services.assistant.providers.registry import ProviderRegistry, UnknownModel
from services.assistant.settings import EMBEDDED_MODEL_ID
from services.assistant.tools import ToolBox
from tests.services.assistant.scripted_api import ScriptedApi, openai_stream
from tests.services.assistant.support import logged_calls, remote_entry

QUESTION = ChatRequest(
    model="openai-model",
    messages=(ChatMessage("user", "What is 2 + 3?"),),
    sampling=Sampling(max_tokens=16),
)


@pytest.fixture
async def scripted(scripted_api: ScriptedApi) -> AsyncIterator[ProviderRegistry]:
    """A registry whose one model is the scripted server behind the real OpenAI adapter."""
    registry = ProviderRegistry([OpenAIProvider(remote_entry("openai", f"{scripted_api.url}/v1"))])
    yield registry
    await registry.aclose()


def chat_loop(registry: ProviderRegistry, toolbox: ToolBox, rounds: int = 3) -> ChatLoop:
    return ChatLoop(registry, toolbox, tool_timeout=5.0, max_tool_rounds=rounds)


async def run(loop: ChatLoop, request: ChatRequest, allowed: Collection[str]) -> list[ChatEvent]:
    return [event async for event in loop.run(request, allowed_tools=allowed)]


async def test_a_tool_call_runs_and_its_result_goes_back_to_the_model(
    scripted: ProviderRegistry, toolbox: ToolBox, scripted_api: ScriptedApi, call_log: Path
) -> None:
    call = ToolCall("call_1", "add", {"a": 2, "b": 3})
    scripted_api.script += [
        openai_stream(
            calls=[(call.id, call.name, call.arguments)], finish="tool_calls", usage=(20, 5)
        ),
        openai_stream(["2 + 3 = ", "5."], usage=(40, 4)),
    ]
    events = await run(chat_loop(scripted, toolbox), QUESTION, {"add", "lookup"})

    assert events[0] == ToolCallEvent(call)
    result = events[1]
    assert isinstance(result, ToolResultEvent)
    assert (result.result.call_id, result.result.content, result.result.is_error) == (
        "call_1",
        "5",
        False,
    )
    assert events[2:] == [TokenDelta("2 + 3 = "), TokenDelta("5."), Finished("stop", 60, 9)]
    assert logged_calls(call_log) == [{"name": "add", "arguments": {"a": 2, "b": 3}}]

    first, second = (r.body for r in scripted_api.received)
    assert sorted(t["function"]["name"] for t in first["tools"]) == ["add", "lookup"]
    assert second["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "5"},
    ]


async def test_a_tool_outside_the_allow_list_is_refused_never_run(
    scripted: ProviderRegistry, toolbox: ToolBox, scripted_api: ScriptedApi, call_log: Path
) -> None:
    scripted_api.script += [
        openai_stream(calls=[("call_9", "lookup", {"country": "Spain"})], finish="tool_calls"),
        openai_stream(["I may not look that up."]),
    ]
    events = await run(chat_loop(scripted, toolbox), QUESTION, {"add"})

    refused = events[1]
    assert isinstance(refused, ToolResultEvent)
    assert refused.result.is_error
    assert "not allowed" in refused.result.content
    assert logged_calls(call_log) == []
    assert [t["function"]["name"] for t in scripted_api.received[0].body["tools"]] == ["add"]
    assert scripted_api.received[1].body["messages"][-1]["content"] == refused.result.content
    assert isinstance(events[-1], Finished)
    assert events[-1].reason == "stop"


async def test_the_last_round_offers_no_tools(
    scripted: ProviderRegistry, toolbox: ToolBox, scripted_api: ScriptedApi, call_log: Path
) -> None:
    again = openai_stream(calls=[("call_x", "add", {"a": 1, "b": 1})], finish="tool_calls")
    scripted_api.script += [again, again]
    events = await run(chat_loop(scripted, toolbox, rounds=1), QUESTION, {"add"})

    assert "tools" in scripted_api.received[0].body
    assert "tools" not in scripted_api.received[1].body
    assert len(logged_calls(call_log)) == 1  # the second round's call is not run
    assert isinstance(events[-1], Finished)
    assert events[-1].reason == "tool_calls"


async def test_an_unknown_model_is_refused(scripted: ProviderRegistry, toolbox: ToolBox) -> None:
    request = ChatRequest("no-such-model", QUESTION.messages, QUESTION.sampling)
    with pytest.raises(UnknownModel, match="no-such-model"):
        await run(chat_loop(scripted, toolbox), request, ())


async def test_closing_the_stream_stops_the_local_model(local_provider: LocalProvider) -> None:
    """With one loaded copy, a second reply can only start once the first stopped generating."""
    loop = chat_loop(ProviderRegistry([local_provider]), ToolBox(()))
    long = ChatRequest(
        EMBEDDED_MODEL_ID,
        (ChatMessage("user", "List the numbers from 1 to 100, separated by commas."),),
        Sampling(max_tokens=400, temperature=0.0),
    )
    stream = loop.run(long, allowed_tools=())
    first = await anext(stream)
    assert isinstance(first, TokenDelta)
    await stream.aclose()

    clock = asyncio.get_running_loop()
    started = clock.time()
    short = ChatRequest(EMBEDDED_MODEL_ID, long.messages, Sampling(max_tokens=2, temperature=0.0))
    events = await run(loop, short, ())
    assert isinstance(events[-1], Finished)
    assert events[-1].completion_tokens <= 2
    # Left running, the first reply's 400 tokens would hold the copy for 10 s or more (40
    # tokens/s at best here); it gave it back within a token or two.
    assert clock.time() - started < 8.0
