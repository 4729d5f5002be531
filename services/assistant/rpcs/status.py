"""GetStatus: how the assistant is doing for the caller: the balance in force (theirs, or one of
their conversations'), the providers' health and load, the completion queue and the MCP
servers. The stored figures come from `StatusFigures`, which keeps them up to a second."""

from __future__ import annotations

from services.assistant import catalogue
from services.assistant.rpcs.base import AssistantRpcs, Context
from voka import authn
from voka.assistant.v1 import assistant_pb2


class StatusRpcs(AssistantRpcs):
    """The service's status."""

    async def GetStatus(
        self, request: assistant_pb2.GetStatusRequest, context: Context
    ) -> assistant_pb2.GetStatusResponse:
        deps = self._deps
        record = None
        if request.conversation:
            record = await self._conversation(request.conversation, "conversation")
        owner = authn.caller().subject if record is None else record.owner
        in_force = await deps.status.in_force(owner, record)
        models = deps.registry.models()
        servers = deps.tools.servers()
        providers = [
            catalogue.provider_status(
                health, deps.kinds.get(health.provider, ""), deps.replies.load, models
            )
            for health in await deps.registry.health()
        ]
        queued = await deps.status.queued()
        return assistant_pb2.GetStatusResponse(
            hemisphere=in_force.balance.message(),
            hemisphere_source=in_force.source,
            active_model=deps.registry.default_model,
            providers=providers,
            active_replies=deps.replies.load.active,
            queued_completions=queued,
            mcp_servers_configured=len(servers),
            mcp_servers_connected=sum(s.connected for s in servers),
        )
