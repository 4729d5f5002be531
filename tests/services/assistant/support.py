"""Helpers for the provider, MCP and chat loop tests (their fixtures live in conftest.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.assistant.settings import ModelEntry, ProviderEntry

REPO = Path(__file__).resolve().parents[3]
T = TypeVar("T")
M = TypeVar("M", bound=Message)


def remote_entry(kind: str, base_url: str, **limits: Any) -> ProviderEntry:
    """A remote provider entry with test-sized timeouts, retries and breaker pause."""
    settings: dict[str, Any] = {
        "connect_timeout": 1.0,
        "read_timeout": 2.0,
        "retries": 2,
        "backoff_seconds": 0.01,
        "breaker_failures": 2,
        "breaker_reset_seconds": 0.3,
    }
    return ProviderEntry(
        name=f"test-{kind}",
        kind=kind,  # type: ignore[arg-type]
        base_url=base_url,
        models=(ModelEntry(id=f"{kind}-model", remote_name=f"{kind}-remote-name"),),
        **(settings | limits),
    )


def violations(error: grpc.aio.AioRpcError) -> set[str]:
    """The fields an INVALID_ARGUMENT names."""
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(error)
    assert status is not None
    fields = set()
    for detail in status.details:
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields |= {v.field for v in bad.field_violations}
    return fields


def logged_calls(call_log: Path) -> list[dict[str, Any]]:
    """The tool calls the test MCP server ran, in order."""
    if not call_log.exists():
        return []
    return [json.loads(line) for line in call_log.read_text().splitlines()]


def stdio_server(call_log: Path) -> dict[str, Any]:
    """The test MCP server as a stdio entry of the servers file."""
    return {
        "command": sys.executable,
        "args": ["-m", "tests.services.assistant.mcp_server", "stdio"],
        "env": {"PYTHONPATH": f"{REPO}:{REPO / 'gen'}", "MCP_CALL_LOG": str(call_log)},
        "cwd": str(REPO),
    }


async def drain(stream: AsyncIterator[T], into: list[T]) -> None:
    """Read `stream` to its end into `into`, so a test sees what came before a failure."""
    async for item in stream:
        into.append(item)
