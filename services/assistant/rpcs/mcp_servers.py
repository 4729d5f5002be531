"""MCP server RPCs: the configured servers and their tools (on request those a conversation may
use: its allow-list within its owner's grant), and reconnecting one (admins). Endpoints are
shown to admins only."""

from __future__ import annotations

from services.assistant import catalogue, validation
from services.assistant.rpcs.base import AssistantRpcs, Context, page_of
from services.assistant.tools import McpServerInfo, UnknownServer
from voka import authn, errors, pagination
from voka.assistant.v1 import assistant_pb2


class McpServersRpcs(AssistantRpcs):
    """MCP servers and their tools."""

    def _server(self, name: str, path: str = "name") -> McpServerInfo:
        server, problems = validation.server_name(name, path)
        validation.require(problems)
        found = next((s for s in self._deps.tools.servers() if s.name == server), None)
        if found is None:
            raise errors.not_found("McpServer", name)
        return found

    def _shown(self, server: McpServerInfo, admin: bool) -> assistant_pb2.McpServer:
        return catalogue.mcp_server(server, admin, self._deps.tool_timeout)

    async def ListMcpServers(
        self, request: assistant_pb2.ListMcpServersRequest, context: Context
    ) -> assistant_pb2.ListMcpServersResponse:
        size, problems = pagination.page_size(request.page_size)
        validation.require(problems)
        servers = sorted(self._deps.tools.servers(), key=lambda s: s.name)
        page, token = page_of(servers, pagination.fingerprint("servers"), size, request.page_token)
        admin = authn.caller().is_admin
        return assistant_pb2.ListMcpServersResponse(
            mcp_servers=[self._shown(s, admin) for s in page], next_page_token=token
        )

    async def GetMcpServer(
        self, request: assistant_pb2.GetMcpServerRequest, context: Context
    ) -> assistant_pb2.GetMcpServerResponse:
        server = self._server(request.name)
        return assistant_pb2.GetMcpServerResponse(
            mcp_server=self._shown(server, authn.caller().is_admin)
        )

    async def ListMcpTools(
        self, request: assistant_pb2.ListMcpToolsRequest, context: Context
    ) -> assistant_pb2.ListMcpToolsResponse:
        deps = self._deps
        size, problems = pagination.page_size(request.page_size)
        validation.require(problems)
        every = request.parent in ("", "servers/-")
        servers = deps.tools.servers() if every else [self._server(request.parent, "parent")]
        tools = catalogue.mcp_tools(servers, deps.tools.tools(None))
        if request.conversation:
            record = await self._conversation(request.conversation, "conversation")
            allowed = await deps.turns.usable_tools(record.owner, record.allowed_tools)
            tools = [t for t in tools if t.tool_name in allowed]
        key = pagination.fingerprint("tools", request.parent, request.conversation)
        page, token = page_of(tools, key, size, request.page_token)
        return assistant_pb2.ListMcpToolsResponse(mcp_tools=page, next_page_token=token)

    async def ReconnectMcpServer(
        self, request: assistant_pb2.ReconnectMcpServerRequest, context: Context
    ) -> assistant_pb2.ReconnectMcpServerResponse:
        self._server(request.name)
        try:
            server = await self._deps.tools.reconnect(request.name.removeprefix("servers/"))
        except UnknownServer as exc:
            raise errors.not_found("McpServer", request.name) from exc
        return assistant_pb2.ReconnectMcpServerResponse(mcp_server=self._shown(server, True))
