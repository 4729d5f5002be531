"""What the assistant has to offer, as the contract shows it: models, provider health and load,
MCP servers and their tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from services.assistant import toolnames
from services.assistant.load import Load
from services.assistant.providers.base import ModelInfo, ProviderHealth, ToolSpec
from services.assistant.tools import McpServerInfo
from voka import wellknown
from voka.assistant.v1 import assistant_pb2

A = assistant_pb2
KINDS: Mapping[str, A.ProviderKind.ValueType] = {
    "local": A.PROVIDER_KIND_LOCAL,
    "openai": A.PROVIDER_KIND_OPENAI_COMPATIBLE,
    "anthropic": A.PROVIDER_KIND_ANTHROPIC,
}
CIRCUITS: Mapping[str, A.CircuitState.ValueType] = {
    "closed": A.CIRCUIT_STATE_CLOSED,
    "open": A.CIRCUIT_STATE_OPEN,
    "half_open": A.CIRCUIT_STATE_HALF_OPEN,
}


def model(info: ModelInfo, kind: str, default: str, available: bool, max_output: int) -> A.Model:
    return A.Model(
        id=info.id,
        display_name=info.description or info.id,
        provider=info.provider,
        provider_kind=KINDS.get(kind, A.PROVIDER_KIND_UNSPECIFIED),
        capabilities=A.ModelCapabilities(
            streaming=info.supports_streaming, tool_calls=info.supports_tools
        ),
        context_length=info.context_window,
        max_output_tokens=min(max_output, info.context_window),
        is_default=info.id == default,
        available=available,
        description=info.description,
    )


def ordered(models: Sequence[ModelInfo], default: str) -> list[ModelInfo]:
    """The default first, then by id."""
    return sorted(models, key=lambda m: (m.id != default, m.id))


def provider_status(
    health: ProviderHealth, kind: str, load: Load, models: Sequence[ModelInfo]
) -> A.ProviderStatus:
    slots = load.of(health.provider)
    if health.healthy:
        state = (
            A.PROVIDER_HEALTH_HEALTHY if health.state == "closed" else A.PROVIDER_HEALTH_DEGRADED
        )
    else:
        state = A.PROVIDER_HEALTH_UNAVAILABLE
    return A.ProviderStatus(
        provider=health.provider,
        kind=KINDS.get(kind, A.PROVIDER_KIND_UNSPECIFIED),
        health=state,
        circuit_state=CIRCUITS.get(health.state, A.CIRCUIT_STATE_UNSPECIFIED),
        in_flight=slots.in_flight,
        queued=slots.queued,
        max_concurrency=slots.concurrency,
        last_error="" if health.healthy else health.detail,
        models=[m.id for m in models if m.provider == health.provider],
    )


def mcp_server(info: McpServerInfo, admin: bool, tool_timeout: float) -> A.McpServer:
    """A server as the contract shows it; `tool_timeout` is the service's default limit."""
    if info.connected:
        state = A.MCP_SERVER_STATE_CONNECTED
    else:
        state = A.MCP_SERVER_STATE_FAILED if info.error else A.MCP_SERVER_STATE_DISCONNECTED
    server = A.McpServer(
        name=f"servers/{info.name}",
        display_name=info.name,
        transport=A.MCP_TRANSPORT_STDIO if info.transport == "stdio"
        else A.MCP_TRANSPORT_STREAMABLE_HTTP,
        endpoint=info.target if admin else "",
        state=state,
        error=info.error,
        server_name=info.server_name,
        server_version=info.server_version,
        protocol_version=info.protocol_version,
        tool_count=len(info.tools),
        tool_timeout=wellknown.duration(tool_timeout),
    )  # fmt: skip
    if info.connect_time is not None:
        server.connect_time.CopyFrom(wellknown.timestamp(info.connect_time))
    return server


def mcp_tools(servers: Sequence[McpServerInfo], specs: Sequence[ToolSpec]) -> list[A.McpTool]:
    """Every tool of the given servers, by resource name."""
    by_name = {spec.name: spec for spec in specs}
    tools = []
    for server in servers:
        for tool in server.tools:
            spec = by_name.get(tool)
            message = A.McpTool(name=toolnames.resource(server.name, tool), tool_name=tool,
                                description=spec.description if spec else "",
                                allowed_by_default=True)  # fmt: skip
            if spec is not None:
                message.input_schema.update(spec.parameters)
            tools.append(message)
    return sorted(tools, key=lambda t: t.name)
