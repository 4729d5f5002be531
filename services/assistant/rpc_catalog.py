"""What the assistant offers and how it is doing: status, models, MCP servers and tools."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

import grpc

from services.assistant import catalog, toolnames, validation
from services.assistant.deps import Deps
from services.assistant.tools import McpServerInfo, UnknownServer
from voka import authn, errors, pagination
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

A = assistant_pb2
Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")


def page_of(items: Sequence[T], key: str, size: int, token: str) -> tuple[list[T], str]:
    """A page of a small in-memory list in a fixed order."""
    start, problems = pagination.offset_of(token, key)
    validation.require(problems)
    more = start + size < len(items)
    return list(items[start : start + size]), pagination.offset_token(
        key, start + size
    ) if more else ""


class CatalogRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

    async def GetStatus(self, request: A.GetStatusRequest, context: Context) -> A.GetStatusResponse:
        deps = self._deps
        record = None
        if request.conversation:
            conversation_id, problems = validation.resource_id(
                request.conversation, "conversations", "conversation")  # fmt: skip
            validation.require(problems)
            identity = authn.caller()
            record = await deps.turns.visible(conversation_id, identity.subject, identity.is_admin)
        in_force = await deps.balances.in_force(authn.caller().subject if record is None
                                                else record.owner, record)  # fmt: skip
        models = deps.registry.models()
        servers = deps.tools.servers()
        return A.GetStatusResponse(
            hemisphere=in_force.balance.message(), hemisphere_source=in_force.source,
            active_model=deps.registry.default_model,
            providers=[catalog.provider_status(h, deps.kinds.get(h.provider, ""),
                                               deps.replies.load, models)
                       for h in await deps.registry.health()],
            active_replies=deps.replies.load.active,
            queued_completions=await deps.store.count_completions(
                None, A.COMPLETION_STATE_QUEUED),
            mcp_servers_configured=len(servers),
            mcp_servers_connected=sum(s.connected for s in servers),
        )  # fmt: skip

    async def ListModels(
        self, request: A.ListModelsRequest, context: Context
    ) -> A.ListModelsResponse:
        deps = self._deps
        size, problems = pagination.page_size(request.page_size)
        validation.require(problems)
        default = deps.registry.default_model
        healthy = {h.provider for h in await deps.registry.health() if h.healthy}
        infos = [m for m in catalog.ordered(deps.registry.models(), default)
                 if not request.provider or m.provider == request.provider]  # fmt: skip
        key = pagination.fingerprint("models", request.provider)
        page, token = page_of(infos, key, size, request.page_token)
        return A.ListModelsResponse(
            models=[catalog.model(m, deps.kinds.get(m.provider, ""), default,
                                  m.provider in healthy, deps.max_output_tokens) for m in page],
            next_page_token=token, default_model=default,
        )  # fmt: skip

    def _server(self, name: str, path: str = "name") -> McpServerInfo:
        server = name.removeprefix("servers/")
        if not name.startswith("servers/") or not server:
            validation.require([FieldViolation(path, "must be servers/{server}")])
        found = next((s for s in self._deps.tools.servers() if s.name == server), None)
        if found is None:
            raise errors.not_found("McpServer", name)
        return found

    async def ListMcpServers(
        self, request: A.ListMcpServersRequest, context: Context
    ) -> A.ListMcpServersResponse:
        size, problems = pagination.page_size(request.page_size)
        validation.require(problems)
        servers = sorted(self._deps.tools.servers(), key=lambda s: s.name)
        page, token = page_of(servers, pagination.fingerprint("servers"), size, request.page_token)
        admin = authn.caller().is_admin
        return A.ListMcpServersResponse(
            mcp_servers=[catalog.mcp_server(s, admin, self._deps.tool_timeout) for s in page],
            next_page_token=token,
        )

    async def GetMcpServer(
        self, request: A.GetMcpServerRequest, context: Context
    ) -> A.GetMcpServerResponse:
        server = self._server(request.name)
        return A.GetMcpServerResponse(
            mcp_server=catalog.mcp_server(server, authn.caller().is_admin, self._deps.tool_timeout)
        )

    async def ListMcpTools(
        self, request: A.ListMcpToolsRequest, context: Context
    ) -> A.ListMcpToolsResponse:
        deps = self._deps
        size, problems = pagination.page_size(request.page_size)
        validation.require(problems)
        every = request.parent in ("", "servers/-")
        servers = deps.tools.servers() if every else [self._server(request.parent, "parent")]
        tools = catalog.mcp_tools(servers, deps.tools.tools(None))
        if request.conversation:
            conversation_id, bad = validation.resource_id(request.conversation, "conversations",
                                                          "conversation")  # fmt: skip
            validation.require(bad)
            identity = authn.caller()
            record = await deps.turns.visible(conversation_id, identity.subject, identity.is_admin)
            allowed = toolnames.allowed(record.allowed_tools, servers)
            tools = [t for t in tools if t.tool_name in allowed]
        key = pagination.fingerprint("tools", request.parent, request.conversation)
        page, token = page_of(tools, key, size, request.page_token)
        return A.ListMcpToolsResponse(mcp_tools=page, next_page_token=token)

    async def ReconnectMcpServer(
        self, request: A.ReconnectMcpServerRequest, context: Context
    ) -> A.ReconnectMcpServerResponse:
        self._server(request.name)
        try:
            server = await self._deps.tools.reconnect(request.name.removeprefix("servers/"))
        except UnknownServer as exc:
            raise errors.not_found("McpServer", request.name) from exc
        return A.ReconnectMcpServerResponse(
            mcp_server=catalog.mcp_server(server, True, self._deps.tool_timeout)
        )
