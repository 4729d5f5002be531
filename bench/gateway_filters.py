"""The price of the edge's Lua filters, each alone in Envoy, in CPU per request.

    PYTHONPATH=.:gen .venv/bin/python -m bench.gateway_filters [--requests 60000] [--rounds 3]

One Envoy worker with a `direct_response` route (no upstream, no other filter), driven over
HTTP/1.1 keep-alive by `h2load` at full speed; Envoy's CPU per request read from /proc. Rows,
alternating in each round: no Lua; the edge replies as configured (`gateway.config`, the script
started for error answers only); the same script started for every answer (the wrapper taken
off, as it was before); the header-name check. The answers are 200s, so the difference between
the two edge-replies rows is what the wrapper saves on a successful call. bench.gateway prices
the whole edge against direct gRPC; this one isolates a filter, whose few µs are lost in that
bench's noise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import cpu
from bench.gateway import H2LOAD, h2load
from gateway.config import JSON, edge_replies_filter, header_names_filter
from tools.processes import free_ports, stop, wait_http

ENVOY = Path(sys.prefix) / "bin" / "envoy"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def every_answer() -> JSON:
    """The edge-replies script without its status-class wrapper: started for every answer."""
    inner: JSON = edge_replies_filter()["typed_config"]["extension_config"]
    return inner


VARIANTS: dict[str, Callable[[], list[JSON]]] = {
    "no Lua": lambda: [],
    "edge replies, error answers only": lambda: [edge_replies_filter()],
    "edge replies, every answer": lambda: [every_answer()],
    "header-name check": lambda: [header_names_filter()],
}


def envoy_config(filters: list[JSON], port: int) -> JSON:
    answer = {"status": 200, "body": {"inline_string": "{}"}}
    route = {"match": {"prefix": "/"}, "direct_response": answer}
    manager = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network"
        ".http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "bench",
        "http_filters": [*filters, ROUTER],
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]},
    }
    listener = {
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [{"filters": [{"name": "http", "typed_config": manager}]}],
    }
    return {"static_resources": {"listeners": [listener]}}


def cpu_per_request(filters: list[JSON], requests: int, work: Path) -> float:
    """Envoy's CPU µs per request, after a warm-up of a tenth as many."""
    (port,) = free_ports(1)
    path = work / f"envoy-{port}.json"
    path.write_text(json.dumps(envoy_config(filters, port)))
    argv = [str(ENVOY), "-c", str(path), "--concurrency", "1", "--base-id", str(port)]
    proc = subprocess.Popen([*argv, "--log-level", "error", "--disable-hot-restart"])
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_http(url, lambda: _running(proc))
        load = [H2LOAD, "--h1", "--clients", "4", "--threads", "1", url]
        h2load([*load[:-1], "-n", str(requests // 10), url])
        before = cpu.tree_seconds([proc.pid])
        done, succeeded, _ = h2load([*load[:-1], "-n", str(requests), url])
        if succeeded != requests:
            raise RuntimeError(f"{requests - succeeded} of {requests} requests failed")
        return (cpu.tree_seconds([proc.pid]) - before) / done * 1e6
    finally:
        stop(proc)


def _running(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        raise RuntimeError(f"envoy exited with {proc.returncode}")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60_000, help="per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="the median of the rounds counts")
    args = parser.parse_args(argv)
    figures: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="voka-bench-filters-") as var:
        for _ in range(args.rounds):
            for name, filters in VARIANTS.items():
                figures[name].append(cpu_per_request(filters(), args.requests, Path(var)))
    base = statistics.median(figures["no Lua"])
    print(f"{'Envoy filters before the router':34} {'µs/request, median':>18} {'added':>7}  rounds")
    for name, values in figures.items():
        median = statistics.median(values)
        rounds = " ".join(f"{v:.1f}" for v in values)
        print(f"{name:34} {median:18.1f} {median - base:+7.1f}  {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
