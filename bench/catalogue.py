"""What the catalogue and status RPCs cost: p50/p99 per RPC, direct gRPC (issue 16, item 3).

    PYTHONPATH=.:gen .venv/bin/python -m bench.catalogue [--rounds 3] [--only translate,...]

Starts the whole mesh (tools.mesh.Mesh, as `make up` runs it: each service its own process, its
models as installed there) on free ports in a temporary directory, the kit's and Envoy's rate
limits lifted, signs a user and an admin in, and calls each catalogue or status RPC straight at
its service's gRPC port (no Envoy) from this process, on one channel per service:

* one call at a time (`--calls` / 4 calls): the latency of a call alone, p50 and p99;
* `--in-flight` callers at once (`--calls` calls): p50 and p99 under that load, calls/s, and
  the service process's CPU per call (from /proc; steadier than the rest on a shared machine).

`--rounds` rounds take every case in turn; each case shows its best round (the lowest p50
alone; the most calls/s under load), the one least disturbed by the rest of the machine.

These RPCs answer from what the service keeps in memory, so the goal is a p50 of at most 1 ms
alone; under 16 in flight the latency is 16 calls' CPU queued on one core, so calls/s and CPU
per call are the figures to compare there.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.auth import UNLIMITED
from services.auth.cli import create_admin
from services.auth.settings import AuthSettings
from tools.mesh import Mesh, Ports
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc, openai_pb2, openai_pb2_grpc
from voka.kinect.v1 import kinect_pb2, kinect_pb2_grpc
from voka.ops.v1 import ops_pb2, ops_pb2_grpc
from voka.speech.v1 import speech_pb2, speech_pb2_grpc
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from voka.translate.v1 import (
    libretranslate_pb2,
    libretranslate_pb2_grpc,
    translate_pb2,
    translate_pb2_grpc,
)

Metadata = tuple[tuple[str, str], ...]
Call = Callable[[], Awaitable[Any]]
GOAL_MS = 1.0
PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP = 20


@dataclass(frozen=True)
class Case:
    """One RPC of one service, and how to call it (`call` made from a channel and tokens)."""

    service: str
    rpc: str
    call: Callable[[grpc.aio.Channel, Metadata, Metadata], Call]


@dataclass(frozen=True)
class Alone:
    """One call at a time: p50 and p99 in ms."""

    p50: float
    p99: float


@dataclass(frozen=True)
class Loaded:
    """`--in-flight` at once: p50 and p99 in ms, calls/s, the service's CPU ms per call."""

    p50: float
    p99: float
    rate: float
    cpu_ms: float


@dataclass(frozen=True)
class Figures:
    """A case's best round of each kind: the least disturbed by the rest of the machine."""

    case: Case
    alone: Alone
    loaded: Loaded

    def row(self) -> str:
        alone, loaded = self.alone, self.loaded
        mark = "" if alone.p50 <= GOAL_MS else "  > 1 ms"
        return (
            f"{self.case.service:<10} {self.case.rpc:<34} {alone.p50:>7.2f} {alone.p99:>7.2f}"
            f"  {loaded.p50:>7.2f} {loaded.p99:>7.2f} {loaded.rate:>8.0f} {loaded.cpu_ms:>7.2f}"
            f"{mark}"
        )


HEADER = (
    f"{'service':<10} {'rpc':<34} {'p50 ms':>7} {'p99 ms':>7}  {'p50 ms':>7} {'p99 ms':>7}"
    f" {'calls/s':>8} {'CPU ms':>7}\n{'':<45} {'--- alone ---':>15}  {'--- 16 in flight ':->33}"
)


def _quantiles(values: Sequence[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98]


def _kit(service: str) -> list[Case]:
    """The kit's health and status RPCs, as every service serves them."""
    return [
        Case(service, "grpc.health.v1.Health/Check", lambda ch, user, admin: lambda: (
            health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest()))),
        Case(service, "OpsService/GetHealth", lambda ch, user, admin: lambda: (
            ops_pb2_grpc.OpsServiceStub(ch).GetHealth(
                ops_pb2.GetHealthRequest(service=service)))),
        Case(service, "OpsService/GetRecentErrors", lambda ch, user, admin: lambda: (
            ops_pb2_grpc.OpsServiceStub(ch).GetRecentErrors(
                ops_pb2.GetRecentErrorsRequest(service=service), metadata=admin))),
    ]  # fmt: skip


def cases() -> list[Case]:
    """Every catalogue or status RPC of the issue, then each service's kit RPCs."""
    translate, libre = translate_pb2_grpc.TranslateServiceStub, libretranslate_pb2_grpc
    speech, tasks = speech_pb2_grpc.SpeechServiceStub, tasks_pb2_grpc.TasksServiceStub
    assistant, kinect = assistant_pb2_grpc.AssistantServiceStub, kinect_pb2_grpc.KinectServiceStub
    own = [
        Case("translate", "ListLanguages", lambda ch, user, admin: lambda: translate(ch)
             .ListLanguages(translate_pb2.ListLanguagesRequest())),
        Case("translate", "ListLanguagePairs (page of 50)", lambda ch, user, admin: lambda:
             translate(ch).ListLanguagePairs(translate_pb2.ListLanguagePairsRequest())),
        Case("translate", "ListLanguagePairs (all 210)", lambda ch, user, admin: lambda:
             translate(ch).ListLanguagePairs(translate_pb2.ListLanguagePairsRequest(
                 page_size=500))),
        Case("translate", "LibreTranslate GetLanguages", lambda ch, user, admin: lambda: libre
             .LibreTranslateServiceStub(ch).GetLanguages(libretranslate_pb2.GetLanguagesRequest())),
        Case("speech", "ListVoices", lambda ch, user, admin: lambda: speech(ch)
             .ListVoices(speech_pb2.ListVoicesRequest())),
        Case("speech", "ListRecognitionModels", lambda ch, user, admin: lambda: speech(ch)
             .ListRecognitionModels(speech_pb2.ListRecognitionModelsRequest())),
        Case("assistant", "ListModels", lambda ch, user, admin: lambda: assistant(ch)
             .ListModels(assistant_pb2.ListModelsRequest())),
        Case("assistant", "OpenAI ListOpenAiModels", lambda ch, user, admin: lambda: openai_pb2_grpc
             .OpenAiServiceStub(ch).ListOpenAiModels(openai_pb2.ListOpenAiModelsRequest(),
                                                     metadata=user)),
        Case("assistant", "GetStatus", lambda ch, user, admin: lambda: assistant(ch)
             .GetStatus(assistant_pb2.GetStatusRequest(), metadata=user)),
        Case("tasks", "ListTaskFunctions", lambda ch, user, admin: lambda: tasks(ch)
             .ListTaskFunctions(tasks_pb2.ListTaskFunctionsRequest(), metadata=user)),
        Case("tasks", "GetSchedulerStatus", lambda ch, user, admin: lambda: tasks(ch)
             .GetSchedulerStatus(tasks_pb2.GetSchedulerStatusRequest(), metadata=admin)),
        Case("kinect", "ListDevices", lambda ch, user, admin: lambda: kinect(ch)
             .ListDevices(kinect_pb2.ListDevicesRequest(), metadata=user)),
        Case("kinect", "GetStatus", lambda ch, user, admin: lambda: kinect(ch)
             .GetStatus(kinect_pb2.GetStatusRequest(), metadata=user)),
    ]  # fmt: skip
    services = dict.fromkeys(case.service for case in own)
    return own + [case for service in (*services, "auth", "meetings") for case in _kit(service)]


async def _timed(call: Call, count: int, in_flight: int) -> tuple[list[float], float]:
    """Milliseconds of each of `count` calls made `in_flight` at a time, and the seconds in all."""
    left = iter(range(count))
    times: list[float] = []

    async def caller() -> None:
        for _ in left:
            start = time.perf_counter()
            await call()
            times.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(in_flight)))
    return times, time.perf_counter() - start


def _service_pids(domain: str) -> list[str]:
    """The service's process in this bench's mesh: a child of this process (the mesh spawned
    it) whose command line is `python -m services.<domain>` (other meshes may run beside)."""
    module, parent = f"services.{domain}".encode(), str(os.getpid())
    return [pid for pid in os.listdir(PROC) if pid.isdigit()
            if _stat(pid)[1:2] == [parent] and module in _arguments(pid)]  # fmt: skip


def _arguments(pid: str) -> list[bytes]:
    try:
        return (PROC / pid / "cmdline").read_bytes().split(b"\0")
    except OSError:  # gone meanwhile
        return []


def _stat(pid: str) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (state, parent, ...); none when
    the process is gone."""
    try:
        return (PROC / pid / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return []


def _cpu_seconds(pids: Sequence[str]) -> float:
    """CPU seconds (user and kernel, every thread) of these processes themselves; the helpers
    they start (an MCP server, a capture process) are theirs to count."""
    fields = [_stat(pid) for pid in pids]
    return sum(int(f[11]) + int(f[12]) for f in fields if f) / TICKS


async def measure(
    case: Case, channel: grpc.aio.Channel, user: Metadata, admin: Metadata, args: argparse.Namespace
) -> tuple[Alone, Loaded]:
    """One round of a case: warm-up, the calls alone, then the calls `--in-flight` at once."""
    call = case.call(channel, user, admin)
    await _timed(call, WARM_UP, 1)
    alone, _ = await _timed(call, max(args.calls // 4, 20), 1)
    pids = _service_pids(case.service)
    before = _cpu_seconds(pids)
    loaded, seconds = await _timed(call, args.calls, args.in_flight)
    cpu_ms = (_cpu_seconds(pids) - before) / args.calls * 1000
    return Alone(*_quantiles(alone)), Loaded(*_quantiles(loaded), args.calls / seconds, cpu_ms)


async def accounts(mesh: Mesh) -> tuple[Metadata, Metadata]:
    """A user's and an admin's bearer headers, signed in through Envoy."""
    tokens = []
    async with httpx.AsyncClient(base_url=mesh.rest_url, timeout=30) as client:
        for role in ("user", "admin"):
            name, password = f"bench{role}{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
            email = f"{name}@example.com"
            if role == "admin":
                settings = AuthSettings(service="auth", data_dir=mesh.var)
                await create_admin(settings, name, email, password)
            else:
                body = {"username": name, "email": email, "password": password}
                (await client.post("/api/v1/auth/register", json=body)).raise_for_status()
            body = {"username": name, "password": password}
            login = await client.post("/api/v1/auth/login", json=body)
            login.raise_for_status()
            tokens.append((("authorization", f"Bearer {login.json()['accessToken']}"),))
    return tokens[0], tokens[1]


async def run(mesh: Mesh, args: argparse.Namespace) -> list[Figures]:
    """`--rounds` rounds over every case (each round takes them all in turn, so a busy spell
    of the machine hits one round of each, not every round of one); each case's best round."""
    user, admin = await accounts(mesh)
    chosen = [case for case in cases() if not args.only or case.service in args.only]
    rounds: dict[Case, list[tuple[Alone, Loaded]]] = {case: [] for case in chosen}
    channels = {case.service: grpc.aio.insecure_channel(mesh.service_address(case.service))
                for case in chosen}  # fmt: skip
    try:
        for number in range(args.rounds):
            for case in chosen:
                rounds[case].append(await measure(case, channels[case.service], user, admin, args))
            print(f"round {number + 1} of {args.rounds} done", flush=True)
    finally:
        for channel in channels.values():
            await channel.close()
    return [
        Figures(
            case,
            min((alone for alone, _ in taken), key=lambda a: a.p50),
            max((loaded for _, loaded in taken), key=lambda b: b.rate),
        )
        for case, taken in rounds.items()
    ]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per RPC under load")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="the best round of each counts")
    parser.add_argument("--only", type=lambda s: set(s.split(",")), default=set(),
                        help="services to measure, comma-separated (default: all)")  # fmt: skip
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="voka-bench-catalogue-") as var:
        print("starting the mesh ...", flush=True)
        with Mesh(
            Path(var),
            Ports.free(),
            {"VOKA_RATE_LIMIT_PER_SECOND": "0"},
            envoy_options={"rate_limit": UNLIMITED},
        ) as mesh:
            print(f"load average at the start: {os.getloadavg()[0]:.2f}", flush=True)
            figures = asyncio.run(run(mesh, args))
            print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    print(HEADER)
    for figure in figures:
        print(figure.row())
    slow = [f for f in figures if f.alone.p50 > GOAL_MS]
    print(f"\n{len(figures) - len(slow)} of {len(figures)} RPCs at most {GOAL_MS:g} ms p50 alone")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
