"""The WebSocket bridge as a process of its own, and what a test's client sees of a socket."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from tools.processes import exited_with_log, free_ports, stop, wait_http

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def bridge_process(
    var: Path, env: Mapping[str, str]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m gateway.ws_bridge` on a free port with `env` added, its log in `var`; yields
    its `host:port` and process once `/health` answers, and stops it after."""
    (port,) = free_ports(1)
    log = var / f"ws_bridge-{port}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.ws_bridge"],
            cwd=ROOT,
            env={**os.environ, "VOKA_WS_PORT": str(port), "VOKA_LOG_JSON": "false", **env},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        address = f"127.0.0.1:{port}"
        wait_http(f"http://{address}/health", exited_with_log("ws_bridge", proc, log))
        yield address, proc
    finally:
        stop(proc)


async def closed(ws: ClientConnection) -> tuple[int, str]:
    """Read until the bridge closes the socket: its close code and reason."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await ws.recv()
    assert ws.close_code is not None, "the connection ended without a close frame"
    return ws.close_code, ws.close_reason or ""
