"""A real MCP server for the tests, built with the same SDK the assistant connects with.

`python -m tests.services.assistant.mcp_server [stdio | http PORT]`. Every call it runs is
appended to the file named by MCP_CALL_LOG, so a test can prove a refused tool never ran.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

CAPITALS = {"france": "Paris", "spain": "Madrid", "japan": "Tokyo"}

server = MCPServer("voka-test-tools", version="1.4.2")


def _log(name: str, arguments: dict[str, object]) -> None:
    path = os.environ.get("MCP_CALL_LOG")
    if path:
        with open(path, "a") as log:
            log.write(json.dumps({"name": name, "arguments": arguments}) + "\n")


@server.tool(description="Add two integers.")
def add(a: int, b: int) -> str:
    _log("add", {"a": a, "b": b})
    return str(a + b)


@server.tool(description="The capital city of a country.")
def lookup(country: str) -> str:
    _log("lookup", {"country": country})
    capital = CAPITALS.get(country.lower())
    if capital is None:
        raise ToolError(f"no capital known for {country!r}")
    return capital


@server.tool(description="Sleep for some seconds, then say so.")
async def slow(seconds: float) -> str:
    _log("slow", {"seconds": seconds})
    await asyncio.sleep(seconds)
    return f"slept {seconds} s"


@server.tool(description="Exit the server process at once, as a crash would.")
def crash() -> str:
    _log("crash", {})
    os._exit(1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
