"""The MCP RPCs of the service against the real test MCP server over stdio: servers (with what
they announced at initialisation) and tools as resources, a conversation's allow-list,
admin-only details and reconnect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from services.assistant.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.server import Running, start

A = assistant_pb2


@pytest.fixture(scope="module")
async def with_tools(
    tokens: TokenFactory, nats: NatsServer, mcp_config: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    data = tmp_path_factory.mktemp("assistant-mcp")
    settings = assistant_settings(tokens, nats, data, f"sqlite:///{data / 'a.db'}",
                                  assistant_mcp_config=mcp_config)  # fmt: skip
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture
async def channel(with_tools: Running) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{with_tools.port}") as opened:
        yield opened


async def test_servers_tools_and_a_conversations_allow_list(
    channel: grpc.aio.Channel, tokens: TokenFactory
) -> None:
    stub = assistant_pb2_grpc.AssistantServiceStub(channel)
    user = User(stub, tokens.metadata(subject="users/gina"))
    admin = User(stub, tokens.metadata(subject="users/root", roles=("user", "admin")))
    [server] = (await user.ListMcpServers(A.ListMcpServersRequest())).mcp_servers
    assert server.name == "servers/calc"
    assert server.state == A.MCP_SERVER_STATE_CONNECTED
    assert server.transport == A.MCP_TRANSPORT_STDIO
    assert server.tool_count == 4
    assert server.endpoint == ""  # admins only
    assert (server.server_name, server.server_version) == ("voka-test-tools", "1.4.2")
    assert server.protocol_version  # as the SDK negotiated it, e.g. 2025-06-18
    assert server.connect_time.seconds > 0
    assert server.tool_timeout.seconds == 20
    detail = await admin.GetMcpServer(A.GetMcpServerRequest(name="servers/calc"))
    assert "tests.services.assistant.mcp_server" in detail.mcp_server.endpoint
    tools = (await user.ListMcpTools(A.ListMcpToolsRequest())).mcp_tools
    assert "servers/calc/tools/add" in [t.name for t in tools]
    add = next(t for t in tools if t.tool_name == "add")
    assert add.description
    assert set(add.input_schema["properties"]) == {"a", "b"}
    made = await user.CreateConversation(A.CreateConversationRequest(conversation=A.Conversation(
        tool_policy=A.ToolPolicy(allowed_tools=["servers/calc/tools/add"]))))  # fmt: skip
    allowed = await user.ListMcpTools(A.ListMcpToolsRequest(
        parent="servers/calc", conversation=made.conversation.name))  # fmt: skip
    assert [t.name for t in allowed.mcp_tools] == ["servers/calc/tools/add"]
    default = await user.CreateConversation(A.CreateConversationRequest(
        conversation=A.Conversation()))  # fmt: skip
    assert list(default.conversation.tool_policy.allowed_tools) == ["servers/calc/tools/-"]
    status = await user.GetStatus(A.GetStatusRequest())
    assert (status.mcp_servers_configured, status.mcp_servers_connected) == (1, 1)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await user.ReconnectMcpServer(A.ReconnectMcpServerRequest(name="servers/calc"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    again = await admin.ReconnectMcpServer(A.ReconnectMcpServerRequest(name="servers/calc"))
    assert again.mcp_server.state == A.MCP_SERVER_STATE_CONNECTED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await user.GetMcpServer(A.GetMcpServerRequest(name="servers/nope"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
