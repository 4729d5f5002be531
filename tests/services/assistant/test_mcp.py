"""MCP tools against a real MCP server built with the same SDK, over stdio and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.assistant.tools import ToolBox, UnknownServer
from tests.services.assistant.support import REPO, logged_calls, stdio_server


async def test_lists_servers_and_their_tools_with_schemas(toolbox: ToolBox) -> None:
    [server] = toolbox.servers()
    assert server.name == "calc"
    assert server.transport == "stdio"
    assert server.connected
    assert not server.error
    assert set(server.tools) == {"add", "lookup", "slow", "crash"}
    add = next(spec for spec in toolbox.tools(None) if spec.name == "add")
    assert add.description == "Add two integers."
    assert add.parameters["type"] == "object"
    assert set(add.parameters["properties"]) == {"a", "b"}


async def test_allow_list_filters_the_tools_offered(toolbox: ToolBox) -> None:
    assert [spec.name for spec in toolbox.tools({"add", "nope"})] == ["add"]
    assert toolbox.tools(()) == []


async def test_call_runs_the_tool(toolbox: ToolBox, call_log: Path) -> None:
    result = await toolbox.call("add", {"a": 2, "b": 40}, timeout=5, call_id="call-1")
    assert (result.call_id, result.name, result.content, result.is_error) == (
        "call-1",
        "add",
        "42",
        False,
    )
    assert result.duration_ms >= 0
    assert logged_calls(call_log) == [{"name": "add", "arguments": {"a": 2, "b": 40}}]


async def test_a_failing_tool_is_an_error_result(toolbox: ToolBox) -> None:
    result = await toolbox.call("lookup", {"country": "Atlantis"}, timeout=5)
    assert result.is_error
    assert "Atlantis" in result.content
    found = await toolbox.call("lookup", {"country": "Spain"}, timeout=5)
    assert (found.content, found.is_error) == ("Madrid", False)


async def test_unknown_tool_is_an_error_result(toolbox: ToolBox) -> None:
    result = await toolbox.call("rm_rf", {}, timeout=5)
    assert result.is_error
    assert "unknown tool" in result.content


async def test_a_slow_tool_times_out_and_the_server_keeps_serving(toolbox: ToolBox) -> None:
    started = asyncio.get_running_loop().time()
    result = await toolbox.call("slow", {"seconds": 30}, timeout=0.3)
    assert result.is_error
    assert "timed out after 0.3 s" in result.content
    assert asyncio.get_running_loop().time() - started < 2
    after = await toolbox.call("add", {"a": 1, "b": 1}, timeout=5)
    assert after.content == "2"


async def test_a_crashed_server_is_reconnected(toolbox: ToolBox) -> None:
    crashed = await toolbox.call("crash", {}, timeout=5)
    assert crashed.is_error
    info = await toolbox.reconnect("calc")
    assert info.connected
    assert "add" in info.tools
    assert (await toolbox.call("add", {"a": 3, "b": 4}, timeout=5)).content == "7"


async def test_the_first_call_after_a_crash_reconnects(toolbox: ToolBox) -> None:
    await toolbox.call("crash", {}, timeout=5)
    result = await toolbox.call("add", {"a": 5, "b": 5}, timeout=5)
    assert (result.content, result.is_error) == ("10", False)


async def test_reconnect_of_an_unknown_server_is_refused(toolbox: ToolBox) -> None:
    with pytest.raises(UnknownServer):
        await toolbox.reconnect("nope")


async def test_a_server_that_cannot_start_is_listed_down(tmp_path: Path, call_log: Path) -> None:
    config = tmp_path / "mcp.json"
    broken = {"command": sys.executable, "args": ["-c", "raise SystemExit(3)"]}
    config.write_text(
        json.dumps({"mcpServers": {"broken": broken, "calc": stdio_server(call_log)}})
    )
    box = ToolBox.from_config(config)
    await box.start()
    try:
        down, up = box.servers()
        assert (down.name, down.connected, down.tools) == ("broken", False, ())
        assert down.error
        assert up.connected
        assert {spec.name for spec in box.tools(None)} == {"add", "lookup", "slow", "crash"}
    finally:
        await box.aclose()


@pytest.fixture
def http_server(call_log: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PYTHONPATH": f"{REPO}:{REPO / 'gen'}",
        "MCP_CALL_LOG": str(call_log),
        "PATH": "/usr/bin:/bin",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.services.assistant.mcp_server", "http", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        subprocess.run(["sleep", "0.05"], check=True)
    raise TimeoutError(f"MCP server did not listen on {port}")


async def test_streamable_http_server_from_a_yaml_file(
    tmp_path: Path, http_server: str, call_log: Path
) -> None:
    config = tmp_path / "mcp.yaml"
    config.write_text(f"servers:\n  remote:\n    url: {http_server}\n")
    box = ToolBox.from_config(config)
    await box.start()
    try:
        [server] = box.servers()
        assert (server.transport, server.target, server.connected) == (
            "streamable_http",
            http_server,
            True,
        )
        result = await box.call("lookup", {"country": "Japan"}, timeout=5)
        assert (result.content, result.is_error) == ("Tokyo", False)
        assert logged_calls(call_log) == [{"name": "lookup", "arguments": {"country": "Japan"}}]
    finally:
        await box.aclose()


def test_a_server_needs_exactly_one_transport(tmp_path: Path) -> None:
    config = tmp_path / "mcp.json"
    config.write_text(json.dumps({"servers": {"both": {"command": "x", "url": "http://y"}}}))
    with pytest.raises(ValueError, match="exactly one of command or url"):
        ToolBox.from_config(config)
