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

KINDS: Mapping[str, assistant_pb2.ProviderKind.ValueType] = {
    "local": assistant_pb2.PROVIDER_KIND_LOCAL,
    "openai": assistant_pb2.PROVIDER_KIND_OPENAI_COMPATIBLE,
    "anthropic": assistant_pb2.PROVIDER_KIND_ANTHROPIC,
}
CIRCUITS: Mapping[str, assistant_pb2.CircuitState.ValueType] = {
    "closed": assistant_pb2.CIRCUIT_STATE_CLOSED,
    "open": assistant_pb2.CIRCUIT_STATE_OPEN,
    "half_open": assistant_pb2.CIRCUIT_STATE_HALF_OPEN,
}


def model(
    info: ModelInfo, kind: str, default: str, available: bool, max_output: int
) -> assistant_pb2.Model:
    return assistant_pb2.Model(
        id=info.id,
        display_name=info.description or info.id,
        provider=info.provider,
        provider_kind=KINDS.get(kind, assistant_pb2.PROVIDER_KIND_UNSPECIFIED),
        capabilities=assistant_pb2.ModelCapabilities(
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
) -> assistant_pb2.ProviderStatus:
    slots = load.of(health.provider)
    if health.healthy:
        closed = health.state == "closed"
        state = (
            assistant_pb2.PROVIDER_HEALTH_HEALTHY
            if closed
            else assistant_pb2.PROVIDER_HEALTH_DEGRADED
        )
    else:
        state = assistant_pb2.PROVIDER_HEALTH_UNAVAILABLE
    return assistant_pb2.ProviderStatus(
        provider=health.provider,
        kind=KINDS.get(kind, assistant_pb2.PROVIDER_KIND_UNSPECIFIED),
        health=state,
        circuit_state=CIRCUITS.get(health.state, assistant_pb2.CIRCUIT_STATE_UNSPECIFIED),
        in_flight=slots.in_flight,
        queued=slots.queued,
        max_concurrency=slots.concurrency,
        last_error="" if health.healthy else health.detail,
        models=[m.id for m in models if m.provider == health.provider],
    )


def mcp_server(info: McpServerInfo, admin: bool, tool_timeout: float) -> assistant_pb2.McpServer:
    """A server as the contract shows it; `tool_timeout` is the service's default limit."""
    if info.connected:
        state = assistant_pb2.MCP_SERVER_STATE_CONNECTED
    else:
        state = (
            assistant_pb2.MCP_SERVER_STATE_FAILED
            if info.error
            else assistant_pb2.MCP_SERVER_STATE_DISCONNECTED
        )
    server = assistant_pb2.McpServer(
        name=f"servers/{info.name}",
        display_name=info.name,
        transport=assistant_pb2.MCP_TRANSPORT_STDIO if info.transport == "stdio"
        else assistant_pb2.MCP_TRANSPORT_STREAMABLE_HTTP,
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


def mcp_tools(
    servers: Sequence[McpServerInfo], specs: Sequence[ToolSpec]
) -> list[assistant_pb2.McpTool]:
    """Every tool of the given servers, by resource name."""
    by_name = {spec.name: spec for spec in specs}
    tools = []
    for server in servers:
        for tool in server.tools:
            spec = by_name.get(tool)
            message = assistant_pb2.McpTool(
                name=toolnames.resource(server.name, tool),
                tool_name=tool,
                description=spec.description if spec else "",
                allowed_by_default=True,
            )
            if spec is not None:
                message.input_schema.update(spec.parameters)
            tools.append(message)
    return sorted(tools, key=lambda t: t.name)
