"""Tool calls through the whole service: a scripted OpenAI-compatible model asks for tools, the
real MCP server (stdio) runs them; the calls and results stream as typed events, are stored in
the conversation and announced on the bus. Also a provider that is down, named in UNAVAILABLE."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2

from services.assistant.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tests.services.assistant.scripted_api import ScriptedApi, openai_stream
from tests.services.assistant.support import logged_calls, published, remote_entry
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc, events_pb2
from voka.server import Running, start

A, E = assistant_pb2, events_pb2


@pytest.fixture
async def user(
    tokens: TokenFactory, nats: NatsServer, mcp_config: Path, scripted_api: ScriptedApi,
    tmp_path: Path,
) -> AsyncIterator[User]:  # fmt: skip
    """The service with the scripted model, a provider nobody answers for, and the MCP tools."""
    providers = (remote_entry("openai", f"{scripted_api.url}/v1"),
                 remote_entry("anthropic", "http://127.0.0.1:9"))  # fmt: skip
    settings = assistant_settings(tokens, nats, tmp_path, f"sqlite:///{tmp_path / 'a.db'}",
                                  assistant_providers=providers,
                                  assistant_mcp_config=mcp_config)  # fmt: skip
    running: Running = await start(SPEC, settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield User(assistant_pb2_grpc.AssistantServiceStub(channel),
                   tokens.metadata(subject="users/hana"))  # fmt: skip
    await running.stop()


async def conversation(user: User, policy: A.ToolPolicy) -> str:
    made = await user.CreateConversation(A.CreateConversationRequest(
        conversation=A.Conversation(model="openai-model", tool_policy=policy)))  # fmt: skip
    return made.conversation.name


async def test_tool_calls_stream_as_events_are_stored_and_announced(
    user: User, scripted_api: ScriptedApi, nats: NatsServer, call_log: Path
) -> None:
    calls = [("call_1", "add", {"a": 2, "b": 3}), ("call_2", "lookup", {"country": "Spain"})]
    scripted_api.script += [
        openai_stream(calls=calls, finish="tool_calls"),
        openai_stream(["2 + 3 = ", "5."]),
    ]
    name = await conversation(user, A.ToolPolicy(allowed_tools=["servers/calc/tools/add"]))
    async with (
        published(nats.url, E.ToolCallExecutedEvent) as executed,
        published(nats.url, E.ReplyCompletedEvent) as replies,
    ):
        events = [e async for e in user.StreamReply(A.StreamReplyRequest(
            conversation=name, message="What is 2 + 3?"))]  # fmt: skip
        await executed.until(lambda seen: len(seen) == 2)
        await replies.until(lambda seen: len(seen) == 1)
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["started", "tool_call", "tool_call", "tool_result", "tool_result",
                     "delta", "delta", "completed"]  # fmt: skip
    assert events[1].tool_call.tool == "servers/calc/tools/add"
    assert events[1].tool_call.arguments["a"] == 2
    add, lookup = events[3].tool_result, events[4].tool_result
    assert (add.content, add.is_error) == ("5", False)
    assert lookup.is_error
    assert "not allowed" in lookup.content
    assert logged_calls(call_log) == [{"name": "add", "arguments": {"a": 2, "b": 3}}]

    stored = (await user.ListMessages(A.ListMessagesRequest(parent=name))).messages
    assert [m.role for m in stored] == [A.MESSAGE_ROLE_USER, A.MESSAGE_ROLE_ASSISTANT,
                                        A.MESSAGE_ROLE_TOOL, A.MESSAGE_ROLE_TOOL,
                                        A.MESSAGE_ROLE_ASSISTANT]  # fmt: skip
    assert [c.id for c in stored[1].tool_calls] == ["call_1", "call_2"]
    assert [m.tool_result for m in stored[2:4]] == [add, lookup]
    assert stored[4].content == "2 + 3 = 5."

    by_id = {e.tool_call_id: e for e in executed.events}
    assert (by_id["call_1"].tool, by_id["call_1"].is_error, by_id["call_1"].refused) == (
        "servers/calc/tools/add", False, False)  # fmt: skip
    assert (by_id["call_2"].is_error, by_id["call_2"].refused) == (True, True)
    assert {e.conversation for e in executed.events} == {name}
    [reply] = replies.events
    assert (reply.reply_message, reply.tool_call_count) == (stored[4].name, 2)
    assert (reply.provider, reply.channel) == ("test-openai", E.REPLY_CHANNEL_STREAM)


async def test_a_conversations_tool_timeout_cuts_a_slow_tool(
    user: User, scripted_api: ScriptedApi, nats: NatsServer
) -> None:
    scripted_api.script += [
        openai_stream(calls=[("call_1", "slow", {"seconds": 30})], finish="tool_calls"),
        openai_stream(["Too slow."]),
    ]
    policy = A.ToolPolicy(allowed_tools=["servers/calc/tools/-"],
                          tool_timeout=duration_pb2.Duration(seconds=1))  # fmt: skip
    name = await conversation(user, policy)
    async with published(nats.url, E.ToolCallExecutedEvent) as executed:
        reply = await user.ProcessMessage(
            A.ProcessMessageRequest(conversation=name, message="Sleep."), timeout=15
        )
        [event] = await executed.until(lambda seen: len(seen) == 1)
    [result] = reply.tool_results
    assert result.is_error
    assert "timed out after 1 s" in result.content
    assert 1.0 <= result.duration.ToNanoseconds() / 1e9 < 5.0
    assert event.timed_out
    assert not event.refused


async def test_a_provider_that_is_down_is_unavailable_naming_it(user: User) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await user.ProcessMessage(A.ProcessMessageRequest(message="Hi", model="anthropic-model"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "test-anthropic" in (caught.value.details() or "")
