"""Between the contract's tool resource names (`servers/{server}/tools/{tool}`, with `-` for
every tool of a server) and the tool names the ToolBox and the models use."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.assistant.tools import McpServerInfo

EVERY = "-"


def resource(server: str, tool: str) -> str:
    return f"servers/{server}/tools/{tool}"


def every_tool(servers: Sequence[McpServerInfo]) -> tuple[str, ...]:
    """The default allow-list of a new conversation: every configured server's tools."""
    return tuple(resource(s.name, EVERY) for s in servers)


def allowed(patterns: Iterable[str], servers: Sequence[McpServerInfo]) -> set[str]:
    """The tool names an allow-list admits among the tools connected servers offer."""
    wanted = set(patterns)
    return {
        tool
        for server in servers
        for tool in server.tools
        if resource(server.name, tool) in wanted or resource(server.name, EVERY) in wanted
    }


def of_tool(name: str, servers: Sequence[McpServerInfo]) -> str:
    """The resource name of a tool the model called (the first server offering it), or the
    bare name under `servers/-` when no server offers it."""
    for server in servers:
        if name in server.tools:
            return resource(server.name, name)
    return resource(EVERY, name)
