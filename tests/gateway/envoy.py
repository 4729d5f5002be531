"""A real Envoy on free ports with the generated configuration, in front of one stand-in
upstream that serves every domain: what the edge tests run their requests through."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc

from gateway.config import GATEWAY_SECRET_ENV, build_config
from tools.processes import BIN, exited_with_log, free_ports, stop, wait_http


@contextlib.contextmanager
def envoy_in_front(
    descriptor_set: Path,
    domains: Iterable[str],
    upstream_port: int,
    var: Path,
    ws_bridge: str | None = None,
    extra_args: Sequence[str] = (),
    **options: Any,
) -> Iterator[str]:
    """Envoy routing `domains` to 127.0.0.1:`upstream_port` (and `/api/v1/ws/` to `ws_bridge`,
    when given), its files in `var` (its log `var/envoy.log`), built with `options` for
    build_config and started with `extra_args`; yields its base URL once it answers, and stops
    it after."""
    listen, admin = free_ports(2)
    config = build_config(
        descriptor_set,
        {domain: f"127.0.0.1:{upstream_port}" for domain in domains},
        listen_port=listen,
        admin_port=admin,
        ws_bridge=ws_bridge,
        **options,
    )
    (var / "envoy.json").write_text(json.dumps(config))
    log = var / "envoy.log"
    argv = [str(BIN / "envoy"), "-c", str(var / "envoy.json"), "--base-id", str(listen)]
    argv += ["--log-level", "warn", "--disable-hot-restart", *extra_args]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={GATEWAY_SECRET_ENV: "test"}
        )
    try:
        url = f"http://127.0.0.1:{listen}"
        wait_http(f"{url}/health", exited_with_log("envoy", proc, log))
        yield url
    finally:
        stop(proc)


@contextlib.contextmanager
def serving(handler: grpc.GenericRpcHandler) -> Iterator[int]:
    """A stand-in upstream: a gRPC server answering every call through `handler`, on a free
    port it yields."""
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers([handler])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(0)
