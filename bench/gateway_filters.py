"""The price of each filter of the edge's chain, alone in Envoy, in CPU per request.

    PYTHONPATH=.:gen .venv/bin/python -m bench.gateway_filters [--requests 60000] [--rounds 3]

Envoy as `gateway.config.build_config` makes it, one worker, its routes replaced by one
`direct_response` route (no upstream), and its filter chain cut down to one filter before the
router per row; `h2load` drives it over HTTP/1.1 keep-alive at full speed, and Envoy's CPU per
request comes from /proc, the rows alternating in each round. Rows: the router alone; each
filter of the chain alone; the whole chain but the transcoder (which needs an upstream); and
the edge-replies script started for every answer, as it was before its status-class wrapper.

What a row adds to the router alone is the filter's price on a plain successful GET that no
route rule singles out: no token to check (jwt_authn's rules match the API's paths only), no
body to buffer. bench.gateway prices the whole edge against direct gRPC; this one isolates a
filter, whose few µs are lost in that bench's noise.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bench import cpu
from bench.auth import UNLIMITED
from bench.gateway import H2LOAD, h2load
from gateway.config import JSON, build_config, edge_replies_filter
from tools import protogen
from tools.processes import free_ports, stop, wait_http
from voka import registry

ENVOY = Path(sys.prefix) / "bin" / "envoy"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
EVERY_ANSWER = "edge replies, script on every answer"
WHOLE_CHAIN = "the whole chain but the transcoder"
ROUTER_ALONE = "router alone"


def edge_config(port: int, admin_port: int) -> JSON:
    """The edge's bootstrap, every domain's upstream a closed port (no call reaches one)."""
    upstreams = {domain: "127.0.0.1:9" for domain in registry.names()}
    return build_config(
        protogen.GEN / protogen.DESCRIPTOR_SET,
        upstreams,
        listen_port=port,
        admin_port=admin_port,
        rate_limit=UNLIMITED,
    )


def manager(config: JSON) -> JSON:
    """The listener's HTTP connection manager."""
    listener = config["static_resources"]["listeners"][0]
    found: JSON = listener["filter_chains"][0]["filters"][0]["typed_config"]
    return found


def rows() -> dict[str, list[JSON]]:
    """Each row's filters before the router."""
    chain = manager(edge_config(0, 0))["http_filters"][:-1]
    every_answer = edge_replies_filter()["typed_config"]["extension_config"]
    return {
        ROUTER_ALONE: [],
        **{f["name"].removeprefix("envoy.filters.http."): [f] for f in chain
           if f["name"] != TRANSCODER},
        EVERY_ANSWER: [every_answer],
        WHOLE_CHAIN: [f for f in chain if f["name"] != TRANSCODER],
    }  # fmt: skip


def cut_down(filters: list[JSON], port: int, admin_port: int) -> JSON:
    config = edge_config(port, admin_port)
    hcm = manager(config)
    hcm["http_filters"] = [*filters, hcm["http_filters"][-1]]
    answer = {"status": 200, "body": {"inline_string": "{}"}}
    route = {"match": {"prefix": "/"}, "direct_response": answer}
    hcm["route_config"] = {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [route]}]}
    return config


def cpu_per_request(filters: list[JSON], requests: int, work: Path) -> float:
    """Envoy's CPU µs per request, after a warm-up of a tenth as many."""
    port, admin_port = free_ports(2)
    path = work / f"envoy-{port}.json"
    path.write_text(json.dumps(cut_down(filters, port, admin_port)))
    argv = [str(ENVOY), "-c", str(path), "--concurrency", "1", "--base-id", str(port)]
    proc = subprocess.Popen([*argv, "--log-level", "error", "--disable-hot-restart"])
    try:
        url = f"http://127.0.0.1:{port}/x"
        wait_http(url, lambda: running(proc))
        load = [H2LOAD, "--h1", "--clients", "4", "--threads", "1"]
        h2load([*load, "-n", str(requests // 10), url])
        before = cpu.tree_seconds([proc.pid])
        done, succeeded, _ = h2load([*load, "-n", str(requests), url])
        if succeeded != requests:
            raise RuntimeError(f"{requests - succeeded} of {requests} requests failed")
        return (cpu.tree_seconds([proc.pid]) - before) / done * 1e6
    finally:
        stop(proc)


def running(proc: subprocess.Popen[bytes]) -> None:
    """For `wait_http`: fail at once when the Envoy it waits for has exited."""
    if proc.poll() is not None:
        raise RuntimeError(f"envoy exited with {proc.returncode}")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60_000, help="per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="the median of the rounds counts")
    args = parser.parse_args(argv)
    chains = rows()
    figures: dict[str, list[float]] = {name: [] for name in chains}
    with tempfile.TemporaryDirectory(prefix="voka-bench-filters-") as var:
        for _ in range(args.rounds):
            for name, filters in chains.items():
                figures[name].append(cpu_per_request(filters, args.requests, Path(var)))
    base = statistics.median(figures[ROUTER_ALONE])
    print(f"{'filters before the router':38} {'µs/request':>10} {'added':>7}  rounds")
    for name, values in figures.items():
        median = statistics.median(values)
        rounds = " ".join(f"{v:.1f}" for v in values)
        print(f"{name:38} {median:10.1f} {median - base:+7.1f}  {rounds}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
