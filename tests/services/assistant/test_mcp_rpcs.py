"""The MCP RPCs of the service against the real test MCP server over stdio, on SQLite and on
PostgreSQL: servers (with what they announced at initialisation) and tools as resources, a
conversation's allow-list within its owner's grant, grants made by admins only, admin-only
details and reconnect."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc
import pytest
from google.protobuf import field_mask_pb2

from services.assistant.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tests.services.assistant.support import violations
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.server import Running, start


@pytest.fixture(scope="module")
async def with_tools(
    tokens: TokenFactory, nats: NatsServer, mcp_config: Path, assistant_db: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    data = tmp_path_factory.mktemp("assistant-mcp")
    settings = assistant_settings(tokens, nats, data, assistant_db,
                                  assistant_mcp_config=mcp_config)  # fmt: skip
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture
async def channel(with_tools: Running) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{with_tools.port}") as opened:
        yield opened


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> assistant_pb2_grpc.AssistantServiceStub:
    return assistant_pb2_grpc.AssistantServiceStub(channel)


@pytest.fixture
def admin(stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory) -> User:
    return User(stub, tokens.metadata(subject="users/root", roles=("user", "admin")))


def new_user() -> str:
    """A user of the test's own: the module's tests share one database."""
    return f"users/{uuid.uuid4().hex[:8]}"


async def grant(granter: User, user: str, tools: Sequence[str]) -> assistant_pb2.McpGrant:
    given = assistant_pb2.McpGrant(name=f"{user}/mcpGrant", allowed_tools=tools)
    return (
        await granter.UpdateMcpGrant(assistant_pb2.UpdateMcpGrantRequest(mcp_grant=given))
    ).mcp_grant


async def usable(user: User, conversation: str) -> list[str]:
    """The tools a conversation's turns may use."""
    listed = await user.ListMcpTools(assistant_pb2.ListMcpToolsRequest(conversation=conversation))
    return [t.name for t in listed.mcp_tools]


async def test_servers_tools_and_a_conversations_allow_list(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, admin: User
) -> None:
    gina = new_user()
    user = User(stub, tokens.metadata(subject=gina))
    await grant(admin, gina, ["servers/calc/tools/-"])
    [server] = (await user.ListMcpServers(assistant_pb2.ListMcpServersRequest())).mcp_servers
    assert server.name == "servers/calc"
    assert server.state == assistant_pb2.MCP_SERVER_STATE_CONNECTED
    assert server.transport == assistant_pb2.MCP_TRANSPORT_STDIO
    assert server.tool_count == 4
    assert server.endpoint == ""  # admins only
    assert (server.server_name, server.server_version) == ("voka-test-tools", "1.4.2")
    assert server.protocol_version  # as the SDK negotiated it, e.g. 2025-06-18
    assert server.connect_time.seconds > 0
    assert server.tool_timeout.seconds == 20
    detail = await admin.GetMcpServer(assistant_pb2.GetMcpServerRequest(name="servers/calc"))
    assert "tests.services.assistant.mcp_server" in detail.mcp_server.endpoint
    tools = (await user.ListMcpTools(assistant_pb2.ListMcpToolsRequest())).mcp_tools
    assert "servers/calc/tools/add" in [t.name for t in tools]
    add = next(t for t in tools if t.tool_name == "add")
    assert add.description
    assert set(add.input_schema["properties"]) == {"a", "b"}
    made = await user.CreateConversation(
        assistant_pb2.CreateConversationRequest(
            conversation=assistant_pb2.Conversation(
                tool_policy=assistant_pb2.ToolPolicy(allowed_tools=["servers/calc/tools/add"])
            )
        )
    )
    allowed = await user.ListMcpTools(
        assistant_pb2.ListMcpToolsRequest(
            parent="servers/calc", conversation=made.conversation.name
        )
    )
    assert [t.name for t in allowed.mcp_tools] == ["servers/calc/tools/add"]
    default = await user.CreateConversation(assistant_pb2.CreateConversationRequest(
        conversation=assistant_pb2.Conversation()))  # fmt: skip
    assert list(default.conversation.tool_policy.allowed_tools) == ["servers/calc/tools/-"]
    status = await user.GetStatus(assistant_pb2.GetStatusRequest())
    assert (status.mcp_servers_configured, status.mcp_servers_connected) == (1, 1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await user.ReconnectMcpServer(assistant_pb2.ReconnectMcpServerRequest(name="servers/calc"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    again = await admin.ReconnectMcpServer(
        assistant_pb2.ReconnectMcpServerRequest(name="servers/calc")
    )
    assert again.mcp_server.state == assistant_pb2.MCP_SERVER_STATE_CONNECTED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await user.GetMcpServer(assistant_pb2.GetMcpServerRequest(name="servers/nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_grants_are_made_by_admins_and_bound_every_conversation(
    stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory, admin: User
) -> None:
    ivy, other = new_user(), new_user()
    user = User(stub, tokens.metadata(subject=ivy))
    made = await user.CreateConversation(assistant_pb2.CreateConversationRequest(
        conversation=assistant_pb2.Conversation()))  # fmt: skip
    name = made.conversation.name
    assert list(made.conversation.tool_policy.allowed_tools) == ["servers/calc/tools/-"]
    own = assistant_pb2.GetMcpGrantRequest(name=f"{ivy}/mcpGrant")
    nothing = (await user.GetMcpGrant(own)).mcp_grant
    assert (nothing.name, list(nothing.allowed_tools)) == (f"{ivy}/mcpGrant", [])
    assert not nothing.HasField("update_time")
    assert await usable(user, name) == []  # off by default

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await grant(user, ivy, ["servers/calc/tools/-"])
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert await usable(user, name) == []

    granted = await grant(admin, ivy, ["servers/calc/tools/add", "servers/calc/tools/lookup"])
    assert granted.update_time.seconds > 0
    assert (await user.GetMcpGrant(own)).mcp_grant == granted
    assert await usable(user, name) == ["servers/calc/tools/add", "servers/calc/tools/lookup"]
    narrowed = assistant_pb2.Conversation(name=name, tool_policy=assistant_pb2.ToolPolicy(
        allowed_tools=["servers/calc/tools/add", "servers/calc/tools/slow"]))  # fmt: skip
    await user.UpdateConversation(assistant_pb2.UpdateConversationRequest(conversation=narrowed))
    assert await usable(user, name) == ["servers/calc/tools/add"]  # `slow` was not granted
    assert (await admin.GetMcpGrant(own)).mcp_grant == granted
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await User(stub, tokens.metadata(subject=other)).GetMcpGrant(own)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND

    revoked = await grant(admin, ivy, [])
    assert list(revoked.allowed_tools) == []
    assert not revoked.HasField("update_time")
    assert await usable(user, name) == []


async def test_a_bad_grant_names_every_bad_field(admin: User) -> None:
    request = assistant_pb2.UpdateMcpGrantRequest(
        mcp_grant=assistant_pb2.McpGrant(
            name="users/x", allowed_tools=["servers/calc/tools/-", "calc"]
        ),
        update_mask=field_mask_pb2.FieldMask(paths=["allowed_tools", "name"]),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateMcpGrant(request)
    assert violations(caught.value) == {
        "mcp_grant.name", "mcp_grant.allowed_tools[1]", "update_mask"}  # fmt: skip
