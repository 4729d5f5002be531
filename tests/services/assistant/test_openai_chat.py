"""OpenAiService in process, on a model that takes tools (the real OpenAI-compatible adapter
against the scripted server): the caller's functions go to the model and its calls come back
to the caller, whole and streamed, never run here; the caller's system prompt replaces the
persona; SSE framing ends with `[DONE]`. The embedded model's answers through Envoy are
tests/e2e/test_openai_chat.py."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api import httpbody_pb2

from services.assistant.prompt import PERSONA
from services.assistant.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import assistant_settings
from tests.services.assistant.scripted_api import ScriptedApi, openai_stream
from tests.services.assistant.support import remote_entry
from tools.processes import NatsServer
from voka.assistant.v1 import openai_pb2, openai_pb2_grpc
from voka.server import Running, start

MODEL = "openai-model"
ADD = {"type": "function", "function": {"name": "add", "description": "a + b",
       "parameters": {"type": "object", "properties": {"a": {"type": "number"}}}}}  # fmt: skip
QUESTION = {"role": "user", "content": "What is 2 + 3?"}


@pytest.fixture
async def stub(
    tokens: TokenFactory, nats: NatsServer, scripted_api: ScriptedApi, tmp_path: Path
) -> AsyncIterator[openai_pb2_grpc.OpenAiServiceStub]:
    settings = assistant_settings(
        tokens, nats, tmp_path, f"sqlite:///{tmp_path / 'a.db'}",
        assistant_providers=(remote_entry("openai", f"{scripted_api.url}/v1"),),
    )  # fmt: skip
    running: Running = await start(SPEC, settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield openai_pb2_grpc.OpenAiServiceStub(channel)
    await running.stop()


async def ask(
    stub: openai_pb2_grpc.OpenAiServiceStub, tokens: TokenFactory, **body: Any
) -> list[httpbody_pb2.HttpBody]:
    request = openai_pb2.CreateChatCompletionRequest(
        body=httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(body).encode())
    )
    call = stub.CreateChatCompletion(request, metadata=tokens.metadata(subject="users/ana"))
    return [part async for part in call]


def events(parts: list[httpbody_pb2.HttpBody]) -> list[Any]:
    """The SSE events of a streamed answer, `[DONE]` as the string."""
    text = b"".join(p.data for p in parts).decode()
    assert text.endswith("\n\n")
    frames = text.split("\n\n")[:-1]
    assert all(f.startswith("data: ") for f in frames)
    return [f[6:] if f[6:] == "[DONE]" else json.loads(f[6:]) for f in frames]


async def test_the_callers_functions_come_back_as_tool_calls(
    stub: openai_pb2_grpc.OpenAiServiceStub, tokens: TokenFactory, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(
        openai_stream(calls=[("call_1", "add", {"a": 2, "b": 3})], finish="tool_calls")
    )
    (part,) = await ask(stub, tokens, model=MODEL, messages=[QUESTION], tools=[ADD])
    assert part.content_type == "application/json"
    body = json.loads(part.data)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == "call_1"
    assert call["function"]["name"] == "add"
    assert json.loads(call["function"]["arguments"]) == {"a": 2, "b": 3}
    assert len(scripted_api.received) == 1  # not run here: no second round with a result
    sent = scripted_api.received[0].body
    assert [t["function"]["name"] for t in sent["tools"]] == ["add"]


async def test_the_result_goes_back_and_the_callers_system_prompt_replaces_the_persona(
    stub: openai_pb2_grpc.OpenAiServiceStub, tokens: TokenFactory, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(openai_stream(["2 + 3 = 5."]))
    called = {"id": "call_1", "type": "function",
              "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}  # fmt: skip
    messages = [{"role": "system", "content": "Answer in numbers."}, QUESTION,
                {"role": "assistant", "content": None, "tool_calls": [called]},
                {"role": "tool", "tool_call_id": "call_1", "content": "5"}]  # fmt: skip
    (part,) = await ask(stub, tokens, model=MODEL, messages=messages, tools=[ADD])
    assert json.loads(part.data)["choices"][0]["message"]["content"] == "2 + 3 = 5."
    sent = scripted_api.received[0].body["messages"]
    assert sent[0] == {"role": "system", "content": "Answer in numbers."}
    assert sent[2]["tool_calls"][0]["id"] == "call_1"
    assert sent[3] == {"role": "tool", "tool_call_id": "call_1", "content": "5"}


async def test_without_a_system_message_the_persona_speaks(
    stub: openai_pb2_grpc.OpenAiServiceStub, tokens: TokenFactory, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(openai_stream(["Hi."]))
    await ask(stub, tokens, model=MODEL, messages=[QUESTION])
    system = scripted_api.received[0].body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith(PERSONA)


async def test_a_streamed_answer_is_framed_as_openai_sends_it(
    stub: openai_pb2_grpc.OpenAiServiceStub, tokens: TokenFactory, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(openai_stream(["Two ", "and ", "three."], usage=(30, 3)))
    parts = await ask(stub, tokens, model=MODEL, messages=[QUESTION], stream=True,
                      stream_options={"include_usage": True})  # fmt: skip
    assert {p.content_type for p in parts} == {"text/event-stream"}
    *chunks, done = events(parts)
    assert done == "[DONE]"
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "",
                                                 "refusal": None}  # fmt: skip
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[1:-2]]
    assert texts == ["Two ", "and ", "three."]
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None,
                                        "finish_reason": "stop"}  # fmt: skip
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 30, "completion_tokens": 3,
                                   "total_tokens": 33}  # fmt: skip
    assert all(c["usage"] is None for c in chunks[:-1])
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1


async def test_streamed_tool_calls(
    stub: openai_pb2_grpc.OpenAiServiceStub, tokens: TokenFactory, scripted_api: ScriptedApi
) -> None:
    scripted_api.script.append(
        openai_stream(calls=[("call_7", "add", {"a": 1})], finish="tool_calls")
    )
    parts = await ask(stub, tokens, model=MODEL, messages=[QUESTION], tools=[ADD], stream=True)
    *chunks, done = events(parts)
    assert done == "[DONE]"
    calls = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls == [{"index": 0, "id": "call_7", "type": "function",
                      "function": {"name": "add", "arguments": '{"a": 1.0}'}}]  # fmt: skip
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert "usage" not in chunks[-1]


async def test_model_list_and_an_unknown_model(
    stub: openai_pb2_grpc.OpenAiServiceStub, tokens: TokenFactory
) -> None:
    metadata = tokens.metadata(subject="users/ana")
    listed = await stub.ListOpenAiModels(openai_pb2.ListOpenAiModelsRequest(), metadata=metadata)
    body = json.loads(listed.data)
    assert body["object"] == "list"
    assert [(m["id"], m["object"], m["owned_by"]) for m in body["data"]] == [
        (MODEL, "model", "test-openai")
    ]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetOpenAiModel(openai_pb2.GetOpenAiModelRequest(model="x"), metadata=metadata)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await ask(stub, tokens, model="x", messages=[QUESTION])
    assert unknown.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "model" in (unknown.value.details() or "")
