"""One live MCP session, held open by a task of its own.

The SDK's transports are anyio context managers that must be entered and left in the same task,
so each server gets a task that opens the transport and session, publishes them, and holds them
until asked to stop; calls from any task go through the published session.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client._transport import TransportStreams
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import CallToolResult, InitializeResult, PaginatedRequestParams, Tool

from services.assistant.tools.config import McpServerConfig


class McpConnection:
    """A connected (or failed) MCP server and the tools it listed."""

    def __init__(self, config: McpServerConfig) -> None:
        self.config = config
        self.tools: tuple[Tool, ...] = ()
        self.error = ""
        # What the server announced at initialisation, and when: shown to operators.
        self.handshake: InitializeResult | None = None
        self.connect_time: datetime | None = None
        self._session: ClientSession | None = None
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._session is not None and self._task is not None and not self._task.done()

    async def open(self) -> None:
        """Connect and list tools; on failure `error` says why and there are no tools."""
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._hold(ready), name=f"mcp:{self.config.name}")
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await asyncio.shield(ready)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            await self.close()

    async def close(self) -> None:
        """Leave the session and stop the server (stdio) or end the HTTP session."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=self.config.connect_timeout)
        self._session = None

    async def alive(self) -> bool:
        """Whether the session still answers: a server can die between two calls."""
        if self._session is None or not self.connected:
            return False
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await self._session.send_ping()
        except Exception:
            return False
        return True

    async def call(self, name: str, arguments: dict[str, object]) -> CallToolResult:
        """One tools/call; the caller bounds the time it may take."""
        if self._session is None or not self.connected:
            raise ConnectionError(f"MCP server {self.config.name!r} is not connected")
        result = await self._session.call_tool(name, arguments)
        if not isinstance(result, CallToolResult):
            raise TypeError(f"unexpected tools/call answer {type(result).__name__}")
        return result

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        """Own the transport and session for the connection's lifetime."""
        try:
            async with _transport(self.config) as (read, write), ClientSession(read, write) as s:
                self.handshake = await s.initialize()
                self.tools = await _list_tools(s)
                self.connect_time = datetime.now(UTC)
                self._session = s
                ready.set_result(None)
                await self._stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else ConnectionError())
            if not isinstance(exc, Exception):
                raise
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self._session = None


async def _list_tools(session: ClientSession) -> tuple[Tool, ...]:
    """Every page of the server's tool list."""
    tools: list[Tool] = []
    cursor: str | None = None
    while True:
        page = await session.list_tools(params=PaginatedRequestParams(cursor=cursor))
        tools += page.tools
        cursor = page.next_cursor
        if not cursor:
            return tuple(tools)


@asynccontextmanager
async def _transport(config: McpServerConfig) -> AsyncIterator[TransportStreams]:
    """The read/write stream pair for the configured transport."""
    if config.command:
        params = StdioServerParameters(
            command=config.command, args=list(config.args), env=config.env or None, cwd=config.cwd
        )
        async with stdio_client(params) as streams:
            yield streams
        return
    async with (
        create_mcp_http_client(headers=config.headers) as client,
        streamable_http_client(config.url, http_client=client) as streams,
    ):
        yield streams
