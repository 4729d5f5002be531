"""MCP grant RPCs (issue 15, item 10): MCP tools are opt-in per user. An admin grants a user
tools (`users/{user}/mcpGrant`); the user's conversations and chats use them within their own
allow-lists, and without a grant none. Users read their own grant; only admins change one (the
contract makes UpdateMcpGrant ACCESS_ADMIN, so a user granting themselves is
PERMISSION_DENIED)."""

from __future__ import annotations

from services.assistant import convert, validation
from services.assistant.rpcs.base import AssistantRpcs, Context
from services.assistant.turns import now
from voka import tenancy
from voka.assistant.v1 import assistant_pb2


class McpGrantsRpcs(AssistantRpcs):
    """Users' MCP grants."""

    async def GetMcpGrant(
        self, request: assistant_pb2.GetMcpGrantRequest, context: Context
    ) -> assistant_pb2.GetMcpGrantResponse:
        owner, problems = validation.grant_owner(request.name)
        validation.require(problems)
        tenancy.require_visible(owner, "McpGrant", request.name)
        record = await self._deps.grants.get(owner)
        return assistant_pb2.GetMcpGrantResponse(mcp_grant=convert.mcp_grant(owner, record))

    async def UpdateMcpGrant(
        self, request: assistant_pb2.UpdateMcpGrantRequest, context: Context
    ) -> assistant_pb2.UpdateMcpGrantResponse:
        owner, problems = validation.grant_update(request)
        validation.require(problems)
        tools = request.mcp_grant.allowed_tools
        record = await self._deps.grants.set(owner, tools, now())
        return assistant_pb2.UpdateMcpGrantResponse(mcp_grant=convert.mcp_grant(owner, record))
