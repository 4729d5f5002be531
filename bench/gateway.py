"""The gateway's price: the same RPCs through Envoy and straight to the service (issue 16, item 4).

    PYTHONPATH=.:gen .venv/bin/python -m bench.gateway [--seconds 4] [--in-flight 16]
        [--connections 4] [--rounds 2] [--envoy-workers N] [--json]

Starts the whole mesh (tools.mesh.Mesh, as `make up` runs it) on free ports in a temporary
directory, with the edge's and the kit's rate limits lifted, signs a user up, and measures three
RPCs of the translate service, each by three paths:

* cases: `ListLanguages` (public, answered from the catalogue), `TranslateText` with a JWT, the
  same text every call (answered from translate's cache; the history row and its event are still
  written), and `WatchHealth` of translate with `max_events=1` (a server stream: its response
  ends with the first event, so the request's time is the first event's);
* paths: gRPC direct (the service's port), native gRPC through Envoy, REST+JSON over HTTP/1.1
  through Envoy (jwt_authn, the transcoder, the Lua filters; what a browser or curl pays).

Every request is made by `h2load` (Debian's `nghttp2-client`, a C client): gRPC as HTTP/2 POSTs
of a prepared gRPC frame, REST as HTTP/1.1 keep-alive requests. The client is the same program
on both sides of each ratio and costs a few microseconds of CPU a request, so it does not
dominate the figures. Each path is measured with 1 request in flight on one connection (the
latency a lone caller sees: p50 and p99 from h2load's per-request log) and with `--in-flight`
requests over `--connections` connections (throughput, and the latency under it; over
HTTP/1.1, one connection per request in flight). Each phase runs `--seconds` after a short
unmeasured warm-up. The CPU of Envoy and of the translate process over the phase, per request,
comes from /proc. Errors count non-2xx answers and the calls translate's own
`grpc_server_handled_total` reports as not OK (but CANCELLED: h2load resets the calls in flight
when its time is up), so a gRPC error answered with HTTP 200 is no success. Rounds alternate
the paths; the round with the lowest p50 of each row counts.

On a small shared machine the client, Envoy, NATS and the seven services share the cores:
compare rows of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
from google.protobuf.message import Message
from prometheus_client.parser import text_string_to_metric_families

from bench import cpu
from bench.auth import UNLIMITED, register
from tools.mesh import Mesh, Ports
from voka.ops.v1 import ops_pb2
from voka.translate.v1 import translate_pb2

H2LOAD = "h2load"
DOMAIN = "translate"  # every case is served by this process
WARM_UP_REQUESTS = 200
TEXT = "Good morning, the train waits for the station."
PERCENTILES = (50, 99)

GRPC_DIRECT = "gRPC direct"
GRPC_ENVOY = "gRPC via Envoy"
REST_ENVOY = "REST/1.1 via Envoy"
PATHS = (GRPC_DIRECT, GRPC_ENVOY, REST_ENVOY)


@dataclass(frozen=True)
class Case:
    """One RPC as both protocols spell it."""

    label: str
    service: str  # full gRPC service name
    method: str
    request: Message
    rest_method: str
    rest_path: str
    rest_body: Mapping[str, object] | None = None
    authenticated: bool = False
    server_stream: bool = False
    # OpsService is served by every domain, so Envoy routes it only on its REST paths, which
    # name the domain: its native gRPC path has no route at the edge.
    native_at_edge: bool = True

    @property
    def grpc_path(self) -> str:
        return f"/{self.service}/{self.method}"


CASES = (
    Case(
        "ListLanguages (public)",
        "voka.translate.v1.TranslateService",
        "ListLanguages",
        translate_pb2.ListLanguagesRequest(),
        "GET",
        "/api/v1/translate/languages",
    ),
    Case(
        "TranslateText (JWT, cached)",
        "voka.translate.v1.TranslateService",
        "TranslateText",
        translate_pb2.TranslateTextRequest(
            text=TEXT, source_language_code="en", target_language_code="es"
        ),
        "POST",
        "/api/v1/translate",
        {"text": TEXT, "sourceLanguageCode": "en", "targetLanguageCode": "es"},
        authenticated=True,
    ),
    Case(
        "WatchHealth first event",
        "voka.ops.v1.OpsService",
        "WatchHealth",
        ops_pb2.WatchHealthRequest(service=DOMAIN, max_events=1),
        "GET",
        f"/api/v1/health/{DOMAIN}:watch?maxEvents=1",
        server_stream=True,
        native_at_edge=False,
    ),
)


@dataclass(frozen=True)
class Load:
    """How h2load drives one phase: `connections` x `streams` requests in flight."""

    connections: int
    streams: int

    @property
    def in_flight(self) -> int:
        return self.connections * self.streams


@dataclass(frozen=True)
class Row:
    """One measured phase."""

    case: str
    path: str
    in_flight: int
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    per_s: float
    envoy_us: float  # Envoy's CPU per request
    service_us: float  # translate's CPU per request


@dataclass(frozen=True)
class Target:
    """Where and how h2load sends one case by one path."""

    url: str
    headers: tuple[str, ...]
    body: Path | None
    http1: bool


# --- requests ----------------------------------------------------------------------------------


def grpc_frame(message: Message) -> bytes:
    """A gRPC length-prefixed message: no compression flag, big-endian length, the bytes."""
    payload = message.SerializeToString()
    return struct.pack(">BI", 0, len(payload)) + payload


def target(case: Case, path: str, mesh: Mesh, token: str, work: Path) -> Target:
    auth = (f"authorization: Bearer {token}",) if case.authenticated else ()
    stem = work / f"{case.method}-{PATHS.index(path)}"
    if path == REST_ENVOY:
        body = None
        headers: tuple[str, ...] = auth
        if case.rest_body is not None:
            body = stem.with_suffix(".json")
            body.write_text(json.dumps(case.rest_body))
            headers += ("content-type: application/json",)
        return Target(f"{mesh.rest_url}{case.rest_path}", headers, body, http1=True)
    body = stem.with_suffix(".grpc")
    body.write_bytes(grpc_frame(case.request))
    host = mesh.service_address(DOMAIN) if path == GRPC_DIRECT else f"127.0.0.1:{mesh.ports.envoy}"
    grpc_headers = ("content-type: application/grpc", "te: trailers", *auth)
    return Target(f"http://{host}{case.grpc_path}", grpc_headers, body, http1=False)


def h2load_argv(where: Target, load: Load, *, seconds: float | None, log: Path | None) -> list[str]:
    """`seconds` bounds the phase by time; without it, WARM_UP_REQUESTS are made."""
    argv = [H2LOAD, "--clients", str(load.connections), "--max-concurrent-streams"]
    argv += [str(load.streams), "--threads", "1"]
    argv += ["--duration", f"{seconds:g}"] if seconds is not None else ["-n", str(WARM_UP_REQUESTS)]
    if where.http1:
        argv.append("--h1")
    for header in where.headers:
        argv += ["--header", header]
    if where.body is not None:
        argv += ["--data", str(where.body)]
    if log is not None:
        argv += ["--log-file", str(log)]
    return [*argv, where.url]


_REQUESTS = re.compile(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded")
_RATE = re.compile(r"finished in [\d.]+\w*, ([\d.]+) req/s")


def h2load(argv: Sequence[str]) -> tuple[int, int, float]:
    """(done, succeeded, requests/s) of one h2load run."""
    out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True).stdout
    counts, rate = _REQUESTS.search(out), _RATE.search(out)
    if counts is None or rate is None:
        raise RuntimeError(f"unexpected h2load output:\n{out}")
    return int(counts.group(1)), int(counts.group(2)), float(rate.group(1))


def latencies_ms(log: Path) -> list[float]:
    """Each request's time from h2load's log (start µs, status, µs to the end of the response)."""
    rows = (line.split("\t") for line in log.read_text().splitlines() if line)
    return sorted(int(row[2]) / 1000 for row in rows)


def percentile(sorted_values: Sequence[float], percent: int) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(percent / 100 * (len(sorted_values) - 1)))
    return sorted_values[index]


# --- what the servers saw ----------------------------------------------------------------------


def not_ok_calls(metrics_url: str, case: Case) -> Counter[str]:
    """Calls of the case's method that the service answered with a status other than OK, by
    status."""
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        text = reply.read().decode()
    return Counter(
        {
            sample.labels["grpc_code"]: int(sample.value)
            for family in text_string_to_metric_families(text)
            if family.name == "grpc_server_handled"
            for sample in family.samples
            if sample.name == "grpc_server_handled_total"
            and sample.labels.get("grpc_service") == case.service
            and sample.labels.get("grpc_method") == case.method
            and sample.labels.get("grpc_code") != "OK"
        }
    )


def child_pid(matches: Callable[[str], bool]) -> int:
    """The pid of this process's child whose command line matches (the mesh spawns them)."""
    me = os.getpid()
    for pid in filter(str.isdigit, os.listdir(cpu.PROC)):
        try:
            stat = (cpu.PROC / pid / "stat").read_text()
            argv = (cpu.PROC / pid / "cmdline").read_text().replace("\0", " ")
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == me and matches(argv):
            return int(pid)
    raise RuntimeError("a mesh process is missing")


# --- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    mesh: Mesh
    token: str
    work: Path
    envoy_pid: int
    service_pid: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.mesh.ports.metrics[DOMAIN]}/metrics"

    def phase(self, case: Case, path: str, load: Load, seconds: float) -> Row:
        where = target(case, path, self.mesh, self.token, self.work)
        h2load(h2load_argv(where, load, seconds=None, log=None))  # warm-up, not measured
        log = self.work / f"phase-{time.monotonic_ns()}.log"  # h2load appends: one per phase
        refused_before = not_ok_calls(self.metrics_url, case)
        cpu_before = {pid: cpu.tree_seconds([pid]) for pid in (self.envoy_pid, self.service_pid)}
        done, succeeded, rate = h2load(h2load_argv(where, load, seconds=seconds, log=log))
        cpu_used = {pid: cpu.tree_seconds([pid]) - s for pid, s in cpu_before.items()}
        refused = not_ok_calls(self.metrics_url, case) - refused_before
        del refused["CANCELLED"]  # the calls in flight when h2load's time ran out: it resets them
        errors = done - succeeded + refused.total()
        if refused:
            print(f"  {case.label}, {path}: answered {dict(refused)}", flush=True)
        times = latencies_ms(log)
        per_request = 1e6 / max(done, 1)
        return Row(
            case.label,
            path,
            load.in_flight,
            done,
            errors,
            percentile(times, 50),
            percentile(times, 99),
            rate,
            cpu_used[self.envoy_pid] * per_request,
            cpu_used[self.service_pid] * per_request,
        )


def check_cases(mesh: Mesh, token: str, cases: Sequence[Case]) -> None:
    """Each case once with a real gRPC client, directly and through Envoy: a request h2load would
    send wrong fails here, loudly, rather than as fast errors in the figures. The first
    TranslateText also fills translate's cache."""
    metadata = (("authorization", f"Bearer {token}"),)
    for address in (mesh.service_address(DOMAIN), f"127.0.0.1:{mesh.ports.envoy}"):
        with grpc.insecure_channel(address) as channel:
            for case in cases:
                if address.endswith(f":{mesh.ports.envoy}") and not case.native_at_edge:
                    continue
                if case.server_stream:
                    stream: grpc.UnaryStreamMultiCallable[Message, bytes] = channel.unary_stream(
                        case.grpc_path, request_serializer=_serialized
                    )
                    list(stream(case.request, metadata=metadata, timeout=30))
                else:
                    unary: grpc.UnaryUnaryMultiCallable[Message, bytes] = channel.unary_unary(
                        case.grpc_path, request_serializer=_serialized
                    )
                    unary(case.request, metadata=metadata, timeout=30)


def _serialized(message: Message) -> bytes:
    return message.SerializeToString()


def measure(mesh: Mesh, args: argparse.Namespace, work: Path) -> list[Row]:
    token = register(mesh.rest_url).access_token
    cases = [c for c in CASES if not args.case or c.method in args.case]
    check_cases(mesh, token, cases)
    bench = Bench(
        mesh,
        token,
        work,
        envoy_pid=child_pid(lambda argv: f"--base-id {mesh.ports.envoy}" in argv),
        service_pid=child_pid(lambda argv: f"services.{DOMAIN}" in argv),
    )
    streams = max(1, args.in_flight // args.connections)
    loads = {path: (Load(1, 1), Load(args.connections, streams)) for path in PATHS}
    loads[REST_ENVOY] = (Load(1, 1), Load(args.in_flight, 1))  # HTTP/1.1: no multiplexing
    chosen = tuple(p for p in PATHS if not args.path or p in args.path)
    best: dict[tuple[str, str, int], Row] = {}
    for round_ in range(args.rounds):
        paths = chosen if round_ % 2 == 0 else tuple(reversed(chosen))
        for case in cases:
            for path in paths:
                if path == GRPC_ENVOY and not case.native_at_edge:
                    continue
                for load in loads[path]:
                    row = bench.phase(case, path, load, args.seconds)
                    key = (row.case, row.path, row.in_flight)
                    if key not in best or row.p50_ms < best[key].p50_ms:
                        best[key] = row
    return [best[(c.label, p, n)] for c in CASES for n in (1, args.in_flight) for p in PATHS
            if (c.label, p, n) in best]  # fmt: skip


def table(rows: Sequence[Row]) -> str:
    width = max(len(r.case) for r in rows)
    head = (f"{'case':<{width}}  {'path':<18} {'in fl':>5} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'req/s':>8} {'envoy us':>8} {'svc us':>7} {'errors':>6}")  # fmt: skip
    lines = [head]
    for r in rows:
        lines.append(
            f"{r.case:<{width}}  {r.path:<18} {r.in_flight:>5} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
            f"{r.per_s:>8.0f} {r.envoy_us:>8.0f} {r.service_us:>7.0f} {r.errors:>6}"
        )
    return "\n".join(lines)


def ratios(rows: Sequence[Row]) -> str:
    """Envoy over direct for each case and load: p50 (lower is better), throughput."""
    by = {(r.case, r.path, r.in_flight): r for r in rows}
    lines = ["", "Envoy / direct        p50 ratio   req/s ratio"]
    for (case, path, n), row in by.items():
        direct = by.get((case, GRPC_DIRECT, n))
        if path == GRPC_DIRECT or direct is None or not direct.p50_ms or not direct.per_s:
            continue
        label = f"{case}, {path}, {n} in flight"
        lines.append(
            f"{label:<60} {row.p50_ms / direct.p50_ms:>5.2f}x  {row.per_s / direct.per_s:>5.2f}x"
        )
    return "\n".join(lines)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per phase")
    parser.add_argument("--in-flight", type=int, default=16, help="requests in flight, loaded")
    parser.add_argument("--connections", type=int, default=4, help="HTTP/2 connections, loaded")
    parser.add_argument("--rounds", type=int, default=2, help="the best round of each row counts")
    parser.add_argument(
        "--case", action="append", choices=[c.method for c in CASES], help="only these RPCs"
    )
    parser.add_argument("--path", action="append", choices=PATHS, help="only these paths")
    parser.add_argument(
        "--envoy-workers", type=int, help="Envoy's worker threads (default: one per core)"
    )
    parser.add_argument("--json", action="store_true", help="also print the rows as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    if shutil.which(H2LOAD) is None:
        print("h2load is missing: scripts/apt-install.sh scripts/apt-packages-dev.txt")
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voka-bench-gateway-") as var:
        print("starting the mesh ...", flush=True)
        with Mesh(
            Path(var),
            Ports.free(),
            {"VOKA_RATE_LIMIT_PER_SECOND": "0"},  # the kit's per-user limit too
            envoy_options={"rate_limit": UNLIMITED},
            envoy_workers=args.envoy_workers,
        ) as mesh:
            work = Path(var) / "bench"
            work.mkdir()
            rows = measure(mesh, args, work)
    print(table(rows))
    print(ratios(rows))
    if args.json:
        print(json.dumps([asdict(r) for r in rows]))
    print(f"total {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
