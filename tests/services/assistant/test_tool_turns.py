"""Tool calls through the whole service: a scripted OpenAI-compatible model asks for tools, the
real MCP server (stdio) runs them; the calls and results stream as typed events, are stored in
the conversation and announced on the bus; tools only for a user an admin granted them. Also a
provider that is down, named in UNAVAILABLE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2

from services.assistant.service import SPEC
from tests.fixtures.events import published
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tests.services.assistant.scripted_api import Answer, ScriptedApi, openai_stream
from tests.services.assistant.support import logged_calls, remote_entry
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc, events_pb2
from voka.server import Running, start

A, E = assistant_pb2, events_pb2


@pytest.fixture
async def stub(
    tokens: TokenFactory, nats: NatsServer, mcp_config: Path, scripted_api: ScriptedApi,
    tmp_path: Path,
) -> AsyncIterator[assistant_pb2_grpc.AssistantServiceStub]:  # fmt: skip
    """The service with the scripted model, a provider nobody answers for, and the MCP tools."""
    providers = (remote_entry("openai", f"{scripted_api.url}/v1"),
                 remote_entry("anthropic", "http://127.0.0.1:9"))  # fmt: skip
    settings = assistant_settings(tokens, nats, tmp_path, f"sqlite:///{tmp_path / 'a.db'}",
                                  assistant_providers=providers,
                                  assistant_mcp_config=mcp_config)  # fmt: skip
    running: Running = await start(SPEC, settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield assistant_pb2_grpc.AssistantServiceStub(channel)
    await running.stop()


@pytest.fixture
def admin(stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory) -> User:
    return User(stub, tokens.metadata(subject="users/root", roles=("user", "admin")))


@pytest.fixture
async def user(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, admin: User
) -> User:
    """Hana, whom an admin granted every tool of the test MCP server."""
    await grant(admin, "users/hana", ["servers/calc/tools/-"])
    return User(stub, tokens.metadata(subject="users/hana"))


async def grant(granter: User, user: str, tools: Sequence[str]) -> A.McpGrant:
    given = A.McpGrant(name=f"{user}/mcpGrant", allowed_tools=tools)
    return (await granter.UpdateMcpGrant(A.UpdateMcpGrantRequest(mcp_grant=given))).mcp_grant


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


async def test_tools_are_off_until_an_admin_grants_them_and_off_again_once_revoked(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, admin: User,
    scripted_api: ScriptedApi, call_log: Path,
) -> None:  # fmt: skip
    ivan = User(stub, tokens.metadata(subject="users/ivan"))
    name = await conversation(ivan, A.ToolPolicy(allowed_tools=["servers/calc/tools/-"]))
    words = openai_stream(["5."])
    adding = openai_stream(calls=[("call_1", "add", {"a": 2, "b": 3})], finish="tool_calls")
    ask = A.ProcessMessageRequest(conversation=name, message="2 + 3?")
    question = A.ChatMessage(role=A.MESSAGE_ROLE_USER, content="2 + 3?")
    chat = A.CompleteChatRequest(model="openai-model", messages=[question],
                                 tools=["servers/calc/tools/-"])  # fmt: skip

    async def offered(call: Awaitable[object], *answers: Answer) -> list[str]:
        """The tools the model was offered in the turn `call` makes."""
        scripted_api.script += answers
        first = len(scripted_api.received)
        await call
        return [t["function"]["name"] for t in scripted_api.received[first].body.get("tools", [])]

    assert await offered(ivan.ProcessMessage(ask), words) == []  # nobody granted Ivan tools
    assert await offered(ivan.CompleteChat(chat), words) == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await grant(ivan, "users/ivan", ["servers/calc/tools/-"])
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await offered(ivan.ProcessMessage(ask), words) == []

    await grant(admin, "users/ivan", ["servers/calc/tools/add"])
    assert await offered(ivan.ProcessMessage(ask), adding, words) == ["add"]
    assert await offered(ivan.CompleteChat(chat), words) == ["add"]
    assert logged_calls(call_log) == [{"name": "add", "arguments": {"a": 2, "b": 3}}]

    await grant(admin, "users/ivan", [])
    assert await offered(ivan.ProcessMessage(ask), words) == []
    assert await offered(ivan.CompleteChat(chat), words) == []
