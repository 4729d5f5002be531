"""What one hop through Envoy costs a lone caller, with the edge's filters and with none.

    PYTHONPATH=.:gen .venv/bin/python -m bench.gateway_hop [--seconds 3] [--rounds 3]

bench.gateway compares the edge with direct gRPC; at one call in flight the ratio stayed above
its goal (1.25x) whatever Envoy's settings, and this bench asks how much of that the filters
are and how much the hop itself. It starts the mesh as bench.gateway does, then in each round
drives the authenticated, cached `TranslateText` as native gRPC with `h2load`, one call in
flight on one connection: directly to translate, then through a second Envoy made from the
mesh's own bootstrap (as configured), then through one whose filter chain is the router alone
(no token check, no rate limit, no transcoder, nothing but the hop). Both Envoys run as the
mesh's does (a worker per core), beside it, with the same upstreams. A row gives p50, p99,
Envoy's CPU per request from /proc, and the p50 over the same round's direct p50; the median
of the rounds is printed last.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench import cpu
from bench.auth import UNLIMITED, register
from bench.gateway import (
    CASES,
    GRPC_DIRECT,
    GRPC_ENVOY,
    Load,
    Target,
    check_cases,
    h2load,
    h2load_argv,
    latencies_ms,
    percentile,
    target,
)
from bench.gateway_filters import manager, running
from gateway.config import GATEWAY_SECRET_ENV, JSON
from tools.mesh import Mesh, Ports, gateway_secret
from tools.processes import BIN, free_ports, stop, wait_http

CASE = next(c for c in CASES if c.method == "TranslateText")
DIRECT = "gRPC direct"
AS_CONFIGURED = "Envoy as configured"
ROUTER_ALONE = "Envoy, router alone"
ONE = Load(1, 1)


@dataclass(frozen=True)
class Phase:
    path: str
    p50_ms: float
    p99_ms: float
    envoy_us: float | None


def router_alone(config: JSON) -> JSON:
    """The same bootstrap with every HTTP filter but the router taken out."""
    bare = copy.deepcopy(config)
    chain = manager(bare)
    chain["http_filters"] = [f for f in chain["http_filters"] if f["name"].endswith("router")]
    return bare


def _on_ports(config: JSON, port: int, admin_port: int) -> JSON:
    moved = copy.deepcopy(config)
    moved["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"] = port
    moved["admin"]["address"]["socket_address"]["port_value"] = admin_port
    return moved


@contextmanager
def envoy(config: JSON, secret: str, work: Path) -> Iterator[tuple[int, int]]:
    """A second Envoy on free ports: (its port, its pid)."""
    port, admin_port = free_ports(2)
    path = work / f"envoy-{port}.json"
    path.write_text(json.dumps(_on_ports(config, port, admin_port)))
    argv = [str(BIN / "envoy"), "-c", str(path), "--base-id", str(port)]
    proc = subprocess.Popen(
        [*argv, "--log-level", "error", "--disable-hot-restart"],
        env={**os.environ, GATEWAY_SECRET_ENV: secret},
        stdout=subprocess.DEVNULL,  # its access log: refusals only, and none are expected
    )
    try:
        wait_http(f"http://127.0.0.1:{admin_port}/ready", lambda: running(proc))
        yield port, proc.pid
    finally:
        stop(proc)


def phase(path: str, where: Target, seconds: float, work: Path, pid: int | None) -> Phase:
    h2load(h2load_argv(where, ONE, seconds=None, log=None))  # warm-up, not measured
    log = work / f"phase-{time.monotonic_ns()}.log"
    before = cpu.tree_seconds([pid]) if pid is not None else 0.0
    done, succeeded, _ = h2load(h2load_argv(where, ONE, seconds=seconds, log=log))
    if succeeded != done:
        raise RuntimeError(f"{path}: {done - succeeded} of {done} calls failed")
    used = cpu.tree_seconds([pid]) - before if pid is not None else None
    times = latencies_ms(log)
    envoy_us = used / max(done, 1) * 1e6 if used is not None else None
    return Phase(path, percentile(times, 50), percentile(times, 99), envoy_us)


def measure(mesh: Mesh, args: argparse.Namespace, work: Path) -> list[list[Phase]]:
    token = register(mesh.rest_url).access_token
    check_cases(mesh, token, [CASE])  # fills translate's cache
    config: JSON = json.loads((mesh.var / "envoy.json").read_text())
    variants = {AS_CONFIGURED: config, ROUTER_ALONE: router_alone(config)}
    secret = gateway_secret(mesh.var)
    direct = target(CASE, GRPC_DIRECT, mesh, token, work)
    through = target(CASE, GRPC_ENVOY, mesh, token, work)
    rounds = []
    for _ in range(args.rounds):
        phases = [phase(DIRECT, direct, args.seconds, work, None)]
        for name, variant in variants.items():
            with envoy(variant, secret, work) as (port, pid):
                url = through.url.replace(f":{mesh.ports.envoy}/", f":{port}/")
                phases.append(phase(name, replace(through, url=url), args.seconds, work, pid))
        rounds.append(phases)
    return rounds


def report(rounds: Sequence[Sequence[Phase]]) -> str:
    header = f"{'round':>5}  {'path':22} {'p50 ms':>7} {'p99 ms':>7} {'envoy us':>9}"
    lines = [f"{header} {'/direct':>8}"]
    ratios: dict[str, list[float]] = {}
    for number, phases in enumerate(rounds, 1):
        direct = phases[0].p50_ms
        for p in phases:
            ratio = p.p50_ms / direct
            ratios.setdefault(p.path, []).append(ratio)
            cost = f"{p.envoy_us:9.0f}" if p.envoy_us is not None else f"{'-':>9}"
            lines.append(
                f"{number:5}  {p.path:22} {p.p50_ms:7.2f} {p.p99_ms:7.2f} {cost} {ratio:7.2f}x"
            )
    lines.append("median p50 over direct, one call in flight:")
    lines += [f"  {path:22} {statistics.median(r):.2f}x" for path, r in ratios.items()]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per phase")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="voka-bench-hop-") as var:
        print("starting the mesh ...", flush=True)
        limits = {"VOKA_RATE_LIMIT_PER_SECOND": "0"}
        with Mesh(Path(var), Ports.free(), limits, envoy_options={"rate_limit": UNLIMITED}) as mesh:
            work = Path(var) / "bench"
            work.mkdir()
            rounds = measure(mesh, args, work)
    print(report(rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
