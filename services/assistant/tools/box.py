"""Every configured MCP server's tools behind one name space, with timeouts and reconnects.

A server that is down does not stop the assistant: it is listed with its error and offers no
tools until `reconnect` brings it back; a call to a server that died since it was last used
reconnects first (a ping tells, before the tool request is sent, so nothing runs twice).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from mcp_types import CallToolResult, TextContent

from services.assistant.providers.base import ToolSpec
from services.assistant.tools.config import McpServerConfig, load_servers
from services.assistant.tools.connection import McpConnection

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ToolResult:
    """What a tool call returned, as the model and the conversation see it."""

    call_id: str
    name: str
    content: str
    is_error: bool
    duration_ms: int
    refused: bool = False  # not run: the conversation's allow-list does not allow it
    timed_out: bool = False  # ran past its timeout and was cancelled


@dataclass(frozen=True)
class McpServerInfo:
    """A configured server's state, for status pages and operators."""

    name: str
    transport: str
    target: str
    connected: bool
    tools: tuple[str, ...]
    error: str
    server_name: str = ""  # name, version and protocol the server announced at initialisation
    server_version: str = ""
    protocol_version: str = ""
    connect_time: datetime | None = None


class UnknownServer(LookupError):
    """No MCP server of that name is configured."""


class ToolBox:
    """The MCP servers from the config file, connected together."""

    def __init__(self, configs: Sequence[McpServerConfig]) -> None:
        self._connections = {config.name: McpConnection(config) for config in configs}

    @classmethod
    def from_config(cls, path: Path | None) -> ToolBox:
        """The servers listed in `path`; no file: a toolbox without tools."""
        return cls(load_servers(path) if path is not None else ())

    async def start(self) -> None:
        """Connect every server at once; failures are recorded per server, not raised."""
        await asyncio.gather(*(conn.open() for conn in self._connections.values()))
        for conn in self._connections.values():
            if conn.error:
                log.warning("MCP server %s is down: %s", conn.config.name, conn.error)

    async def aclose(self) -> None:
        await asyncio.gather(*(conn.close() for conn in self._connections.values()))

    def servers(self) -> list[McpServerInfo]:
        return [_info(conn) for conn in self._connections.values()]

    def tools(self, allow: Collection[str] | None) -> list[ToolSpec]:
        """Tools of connected servers, only those in `allow` unless it is None."""
        return [spec for spec, _ in self._index().values() if allow is None or spec.name in allow]

    async def call(
        self,
        name: str,
        arguments: dict[str, object],
        *,
        timeout: float,  # noqa: ASYNC109 - the per-call limit is part of the contract
        call_id: str = "",
    ) -> ToolResult:
        """Run a tool; errors, unknown tools and timeouts come back as error results."""
        started = time.monotonic()
        content, is_error, timed_out = await self._outcome(name, arguments, timeout)
        elapsed = round((time.monotonic() - started) * 1000)
        return ToolResult(call_id, name, content, is_error, elapsed, timed_out=timed_out)

    async def reconnect(self, server: str) -> McpServerInfo:
        """Drop and reopen one server's session (a restarted or crashed server comes back)."""
        old = self._connections.get(server)
        if old is None:
            raise UnknownServer(server)
        await old.close()
        fresh = McpConnection(old.config)
        await fresh.open()
        self._connections[server] = fresh
        return _info(fresh)

    def _index(self) -> dict[str, tuple[ToolSpec, McpConnection]]:
        """Tool name -> spec and server; on a clash the first configured server wins."""
        index: dict[str, tuple[ToolSpec, McpConnection]] = {}
        for conn in self._connections.values():
            for tool in conn.tools if conn.connected else ():
                spec = ToolSpec(tool.name, tool.description or "", dict(tool.input_schema))
                index.setdefault(tool.name, (spec, conn))
        return index

    async def _outcome(
        self, name: str, arguments: dict[str, object], limit: float
    ) -> tuple[str, bool, bool]:
        """The call's text, whether it failed, and whether it timed out."""
        owner = self._owner(name)
        if owner is None:
            return f"unknown tool {name!r}", True, False
        if not await owner.alive():
            await self.reconnect(owner.config.name)
            owner = self._connections[owner.config.name]
        try:
            async with asyncio.timeout(limit):
                return *_content(await owner.call(name, arguments)), False
        except TimeoutError:
            return f"tool {name!r} timed out after {limit:g} s", True, True
        except Exception as exc:
            return f"tool {name!r} failed: {exc}", True, False

    def _owner(self, name: str) -> McpConnection | None:
        """The server offering `name`, or that listed it before it went away."""
        entry = self._index().get(name)
        if entry is not None:
            return entry[1]
        return next((c for c in self._connections.values() if _lists(c, name)), None)


def _lists(conn: McpConnection, name: str) -> bool:
    return any(tool.name == name for tool in conn.tools)


def _content(result: CallToolResult) -> tuple[str, bool]:
    """Text blocks joined; other blocks (images, resources) as their JSON."""
    parts = [
        block.text if isinstance(block, TextContent) else json.dumps(block.model_dump(mode="json"))
        for block in result.content
    ]
    return "\n".join(parts), bool(result.is_error)


def _info(conn: McpConnection) -> McpServerInfo:
    handshake = conn.handshake
    return McpServerInfo(
        name=conn.config.name,
        transport=conn.config.transport,
        target=conn.config.target,
        connected=conn.connected,
        tools=tuple(tool.name for tool in conn.tools) if conn.connected else (),
        error=conn.error,
        server_name=handshake.server_info.name if handshake else "",
        server_version=handshake.server_info.version if handshake else "",
        protocol_version=handshake.protocol_version if handshake else "",
        connect_time=conn.connect_time if conn.connected else None,
    )
