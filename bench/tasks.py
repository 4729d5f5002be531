"""No-op task throughput and submit→start latency: this service vs. Celery and Dramatiq.

    PYTHONPATH=.:gen .venv/bin/python -m bench.tasks [--tasks N] [--workers W] [--replicas R]...
        [--database sqlite|postgresql://...]... [--only NAMES] [--in-flight N]

Same machine, same run, same number of worker processes (W) for every system:

* **voka**: nats-server, R replicas of the tasks service (`python -m services.tasks`, no
  embedded workers; with R > 1 the shards spread over them by lease, as in production) sharing
  one database, and W `python -m services.tasks.worker` processes (default concurrency); tasks
  go in through StreamSubmitTasks (the contract's bulk path, one stream per replica), and
  separately through one SubmitTask call per task (`--in-flight`, 16 by default, round
  robin). Each voka system runs once per `--database` (`sqlite`: a file, the default; a
  PostgreSQL server's URL: a fresh database on it per row, dropped afterwards) and per
  `--replicas` (default 1).
* **celery**: Celery with a Redis broker, `celery worker -P prefork -c W`, default settings
  (prefetch, acks, no result backend); tasks go in with `delay()`.
* **dramatiq**: Dramatiq with a Redis broker, `dramatiq --processes W` with its default threads;
  tasks go in with `send()`.

Every task is the same no-op that records, inside the function, when it started
(`bench/tasks_probe.py`). submit→start is that time minus the moment the client submitted the
task (for a stream, when its message was handed to the stream). Throughput is N divided by the
time from the first submit to the last start; for voka it runs until the database holds every
task as SUCCEEDED, which is later and stricter. Redis databases 13 (Celery) and 14 (Dramatiq)
must be empty; the bench empties them again afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
import redis
from google.protobuf import struct_pb2
from sqlalchemy.engine import make_url

from bench import cpu, tasks_probe
from tests.fixtures.databases import fresh_postgres
from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.processes import Child, Replica, Worker
from tools.processes import NatsServer
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

REDIS = "redis://127.0.0.1:6379"
CELERY_DB, DRAMATIQ_DB = 13, 14
STREAM_CHUNK = 500  # tasks per StreamSubmitTasks message
SINGLE_IN_FLIGHT = 16  # concurrent SubmitTask calls in the one-call-per-task run
WARM_UP = 50  # tasks run (and not counted) before each measurement
WARM_INDEX = 10_000_000  # probe indices of warm-up tasks start here
POLL = 0.1
START_TIMEOUT = 60.0
SQLITE = "sqlite"


@dataclass(frozen=True)
class Setup:
    """Where voka's tasks live, how many replicas serve them, and how many unary submits the
    client keeps in flight (the peers' clients submit from one thread)."""

    database: str  # SQLITE, or the URL of a PostgreSQL server (a fresh database per run)
    replicas: int
    in_flight: int = SINGLE_IN_FLIGHT

    @property
    def label(self) -> str:
        kind = SQLITE if self.database == SQLITE else "pg"
        return f"{kind}, {self.replicas} repl."


@dataclass
class Run:
    """One system's measurement."""

    name: str
    count: int
    seconds: float  # first submit → last start (voka: → every task SUCCEEDED in the database)
    started_seconds: float  # first submit → last start, for every system alike
    submit_seconds: float  # the client's submit loop
    latencies: list[float]  # submit→start per task, seconds
    cpu: dict[str, float]  # CPU milliseconds per task, by role (service, workers, broker, client)

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    @property
    def started_rate(self) -> float:
        return self.count / self.started_seconds

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[q - 1]


class System(Protocol):
    name: str

    @property
    def roles(self) -> Mapping[str, Iterable[int]]:
        """Role → the pids whose process trees do its work."""
        ...

    def submit(self, indices: range) -> list[float]:
        """Submit one task per index; returns each task's submit time (epoch seconds)."""
        ...

    def settled(self, count: int) -> float:
        """When (epoch seconds) the system itself considers `count` tasks done."""
        ...


@contextlib.contextmanager
def running(*children: Child) -> Iterator[None]:
    """Kill (-9, whole process group) every child at exit."""
    try:
        yield
    finally:
        for child in children:
            child.kill()


def wait_for(condition: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f}s")
        time.sleep(POLL)


def started_count(probe_dir: Path, below: int) -> int:
    return sum(1 for index in tasks_probe.starts(probe_dir) if index < below)


def measure(system: System, count: int, probe_dir: Path, timeout: float) -> Run:
    """Warm up, then submit `count` tasks and wait until each has started (and settled)."""
    warm = range(WARM_INDEX, WARM_INDEX + WARM_UP)
    system.submit(warm)
    wait_for(lambda: started_count(probe_dir, WARM_INDEX + WARM_UP) >= WARM_UP,
             f"{system.name} warm-up", START_TIMEOUT)  # fmt: skip
    system.settled(WARM_UP)
    before = cpu.snapshot(system.roles)
    began = time.time()
    submitted = system.submit(range(count))
    submit_seconds = time.time() - began
    wait_for(lambda: started_count(probe_dir, count) >= count, system.name, timeout)
    starts = tasks_probe.starts(probe_dir)
    last_start = max(starts[i] for i in range(count))
    end = max(last_start, system.settled(WARM_UP + count))
    after = cpu.snapshot(system.roles)
    spent = {role: (after[role] - before[role]) * 1e3 / count for role in after}
    latencies = [starts[i] - submitted[i] for i in range(count)]
    return Run(system.name, count, end - submitted[0], last_start - submitted[0], submit_seconds,
               latencies, spent)  # fmt: skip


# --- voka ---------------------------------------------------------------------------------------


def probe_request(index: int) -> tasks_pb2.SubmitTaskRequest:
    args = struct_pb2.Struct()
    args.update({"index": index})
    return tasks_pb2.SubmitTaskRequest(function_name="bench.probe", args=args)


class Voka:
    """The tasks service (one or more replicas sharing the shards by lease) and its workers as
    separate processes, reached over gRPC: submits are spread over the replicas."""

    def __init__(
        self, channels: Sequence[grpc.Channel], tokens: TokenFactory, stream: bool,
        roles: dict[str, Iterable[int]], setup: Setup,
    ) -> None:  # fmt: skip
        how = "StreamSubmitTasks" if stream else "SubmitTask per task"
        if not stream and setup.in_flight != SINGLE_IN_FLIGHT:
            how += f", {setup.in_flight} in flight"
        self.name = f"voka ({how}, {setup.label})"
        self.roles = roles
        self._stubs = [tasks_pb2_grpc.TasksServiceStub(channel) for channel in channels]
        self._metadata = tokens.metadata(subject="users/bench", roles=("user", "admin"), ttl=3600)
        self._stream = stream
        self._in_flight = setup.in_flight

    def submit(self, indices: range) -> list[float]:
        times = [0.0] * len(indices)
        if self._stream:
            self._submit_streams(indices, times)
        else:
            self._submit_each(indices, times)
        return times

    def _submit_streams(self, indices: range, times: list[float]) -> None:
        """One stream per replica, side by side; message n goes to replica n mod replicas."""
        starts = range(0, len(indices), STREAM_CHUNK)
        lanes = [starts[n :: len(self._stubs)] for n in range(len(self._stubs))]
        with ThreadPoolExecutor(len(lanes)) as pool:
            accepted = sum(pool.map(self._stream_lane, self._stubs, lanes, [indices] * len(lanes),
                                    [times] * len(lanes)))  # fmt: skip
        if accepted != len(indices):
            raise RuntimeError(f"accepted {accepted} of {len(indices)}")

    def _stream_lane(
        self, stub: tasks_pb2_grpc.TasksServiceStub, starts: range, indices: range,
        times: list[float],
    ) -> int:  # fmt: skip
        def messages() -> Iterator[tasks_pb2.StreamSubmitTasksRequest]:
            for start in starts:
                chunk = indices[start : start + STREAM_CHUNK]
                message = tasks_pb2.StreamSubmitTasksRequest(
                    requests=[probe_request(i) for i in chunk]
                )
                times[start : start + len(chunk)] = [time.time()] * len(chunk)
                yield message

        reply = stub.StreamSubmitTasks(messages(), metadata=self._metadata)
        return int(reply.accepted_count)

    def _submit_each(self, indices: range, times: list[float]) -> None:
        def one(position: int) -> None:
            times[position] = time.time()
            stub = self._stubs[position % len(self._stubs)]
            stub.SubmitTask(probe_request(indices[position]), metadata=self._metadata)

        with ThreadPoolExecutor(self._in_flight) as pool:
            list(pool.map(one, range(len(indices))))

    def settled(self, count: int) -> float:
        """GetTaskMetrics counts what each replica applied: the sum covers every shard."""

        def succeeded() -> bool:
            request = tasks_pb2.GetTaskMetricsRequest()
            return count <= sum(stub.GetTaskMetrics(request, metadata=self._metadata)
                                .metrics.counters.succeeded for stub in self._stubs)  # fmt: skip

        wait_for(succeeded, "voka: tasks SUCCEEDED in the database", START_TIMEOUT)
        return time.time()

    def wait_balanced(self) -> None:
        """Until every replica serves its share of the shards (leases move in rounds)."""

        def balanced() -> bool:
            status = (
                self._stubs[0]
                .GetSchedulerStatus(tasks_pb2.GetSchedulerStatusRequest(), metadata=self._metadata)
                .status
            )
            share = status.shard_count // len(self._stubs)
            held = [len(replica.shards) for replica in status.replicas]
            return len(held) == len(self._stubs) and min(held) >= share

        wait_for(balanced, "voka: shards spread over the replicas", START_TIMEOUT)


@contextlib.contextmanager
def database(setup: Setup) -> Iterator[tuple[str, dict[str, Iterable[int]]]]:
    """The database URL for the service ("" is its SQLite file, whose work runs in the service
    process) and the role of its server's processes: on PostgreSQL, the backends serving the
    fresh database (the server's shared writer and checkpointer processes are not counted)."""
    if setup.database == SQLITE:
        yield "", {}
        return
    with fresh_postgres(setup.database, prefix="voka_bench") as url:
        name = make_url(url).database or ""
        yield url, {"database": cpu.Titled(f" {name} ")}


@contextlib.contextmanager
def voka(work: Path, workers: int, probe_dir: Path, stream: bool, setup: Setup) -> Iterator[Voka]:
    """Everything stopped (kill -9) and the database dropped at exit."""
    with contextlib.ExitStack() as stack:
        nats = NatsServer(work / "nats")
        nats.start()
        stack.callback(nats.stop)
        url, database_role = stack.enter_context(database(setup))
        tokens = TokenFactory.in_directory(work)
        env = {
            "VOKA_DATA_DIR": str(work / "data"), "VOKA_DATABASE_URL": url,
            "VOKA_NATS_URL": nats.url, "VOKA_JWKS_FILE": str(tokens.jwks_file),
            "VOKA_LOG_LEVEL": "WARNING",
            "VOKA_RATE_LIMIT_PER_SECOND": "0",  # one client sends everything: no per-user cap
            "VOKA_TASKS_EMBEDDED_WORKERS": "[]",
            "VOKA_TASKS_FUNCTION_MODULES": '["bench.tasks_functions"]',
            tasks_probe.PROBE_DIR: str(probe_dir),
        }  # fmt: skip
        logs = work / "logs"
        pool = [Worker(["GENERAL_PURPOSE"], env, logs / f"worker-{n}.log") for n in range(workers)]
        stack.enter_context(running(*pool))
        channels, pids = [], []
        for n in range(setup.replicas):  # one after another: the first creates the schema
            replica = Replica(env, logs / f"replica-{n}.log")
            stack.callback(replica.kill)
            replica.wait_serving()
            pids.append(replica.pid)
            channels.append(stack.enter_context(grpc.insecure_channel(replica.address)))
        roles: dict[str, Iterable[int]] = {
            "service": pids, "workers": [w.pid for w in pool], "broker": [nats.pid or 0],
            **database_role,
        }  # fmt: skip
        system = Voka(channels, tokens, stream, roles, setup)
        system.wait_balanced()
        yield system


# --- Celery and Dramatiq -------------------------------------------------------------------------


class Peer:
    """Celery or Dramatiq: `send(index)` is the framework's own submit call."""

    def __init__(self, name: str, send: Callable[[int], Any], workers: Child) -> None:
        self.name = name
        self._send = send
        self.roles = {"workers": [workers.pid], "broker": cpu.named("redis-server")}

    def submit(self, indices: range) -> list[float]:
        times = []
        for index in indices:
            times.append(time.time())
            self._send(index)
        return times

    def settled(self, count: int) -> float:
        return 0.0  # the last start is the end: a no-op finishes as it starts


@contextlib.contextmanager
def own_redis_db(number: int) -> Iterator[str]:
    """A Redis database the bench has to itself: refused if not empty, emptied afterwards."""
    client = redis.Redis.from_url(f"{REDIS}/{number}")
    if client.dbsize():
        raise SystemExit(f"redis db {number} is not empty; the bench will not touch it")
    try:
        yield f"{REDIS}/{number}"
    finally:
        client.flushdb()
        client.close()


@contextlib.contextmanager
def celery(work: Path, workers: int, probe_dir: Path) -> Iterator[Peer]:
    with own_redis_db(CELERY_DB) as url:
        os.environ["VOKA_BENCH_CELERY_BROKER"] = url
        from bench import tasks_celery  # noqa: PLC0415 (reads the broker URL on import)

        env = {tasks_probe.PROBE_DIR: str(probe_dir), "VOKA_BENCH_CELERY_BROKER": url}
        args = ["celery", "-A", "bench.tasks_celery", "worker", "-P", "prefork",
                "-c", str(workers), "-l", "WARNING"]  # fmt: skip
        child = Child(args, env, work / "logs" / "celery.log")
        with running(child):
            yield Peer("celery (redis, prefork)", tasks_celery.probe.delay, child)


@contextlib.contextmanager
def dramatiq(work: Path, workers: int, probe_dir: Path) -> Iterator[Peer]:
    with own_redis_db(DRAMATIQ_DB) as url:
        os.environ["VOKA_BENCH_DRAMATIQ_BROKER"] = url
        from bench import tasks_dramatiq  # noqa: PLC0415 (reads the broker URL on import)

        env = {tasks_probe.PROBE_DIR: str(probe_dir), "VOKA_BENCH_DRAMATIQ_BROKER": url}
        args = ["dramatiq", "bench.tasks_dramatiq", "--processes", str(workers)]
        child = Child(args, env, work / "logs" / "dramatiq.log")
        with running(child):
            yield Peer("dramatiq (redis, default threads)", tasks_dramatiq.probe.send, child)


# --- main ----------------------------------------------------------------------------------------


def runs_of(names: Sequence[str], setups: Sequence[Setup]) -> list[tuple[str, Setup | None]]:
    """What to measure, in order: each voka system once per setup, each peer once."""
    return [(name, setup) for name in names
            for setup in (setups if name.startswith("voka") else [None])]  # fmt: skip


def run_one(name: str, setup: Setup | None, directory: Path, args: argparse.Namespace) -> Run:
    probe_dir = directory / "probe"
    probe_dir.mkdir(parents=True)
    systems: dict[str, Callable[[], contextlib.AbstractContextManager[System]]] = {
        "celery": lambda: celery(directory, args.workers, probe_dir),
        "dramatiq": lambda: dramatiq(directory, args.workers, probe_dir),
    }
    if setup is not None:
        systems["voka"] = lambda: voka(directory, args.workers, probe_dir, True, setup)
        systems["voka-single"] = lambda: voka(directory, args.workers, probe_dir, False, setup)
    with systems[name]() as system:
        return measure(system, args.tasks, probe_dir, args.timeout)


def table(runs: Sequence[Run]) -> str:
    by_name = {r.name.split(" ")[0]: r for r in runs}
    peers = [by_name[p] for p in ("celery", "dramatiq") if p in by_name]
    width = max(36, *(len(r.name) for r in runs))
    header = (
        f"{'system':<{width}} {'tasks':>6} {'seconds':>8} {'tasks/s':>8} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'CPU ms':>7}"
    )
    header += "".join(f" {'vs ' + p.name.split(' ')[0]:>12}" for p in peers)
    lines = [header]
    for r in runs:
        line = (f"{r.name:<{width}} {r.count:>6} {r.seconds:>8.2f} {r.rate:>8.0f} "
                f"{r.percentile(50) * 1e3:>8.1f} {r.percentile(99) * 1e3:>8.1f} "
                f"{sum(r.cpu.values()):>7.3f}")  # fmt: skip
        line += "".join(f" {r.rate / p.rate:>11.2f}x" for p in peers)
        lines.append(line)
    lines.append("")
    lines.append("the same clock for every system (tasks / first submit → last start):")
    for r in runs:
        ratios = "".join(f", {r.started_rate / p.started_rate:.2f}x {p.name.split(' ')[0]}"
                         for p in peers)  # fmt: skip
        lines.append(f"  {r.name:<{width}} {r.started_rate:>6.0f}/s{ratios}")
    lines.append("")
    lines += [f"  {r.name}: client submit loop {r.submit_seconds:.2f}s" for r in runs]
    lines.append("")
    lines.append(
        "CPU per task, ms, by role (each role's processes and their children, all threads; "
        '/proc; "CPU ms" above is the total):'
    )
    roles = ("service", "database", "workers", "broker", "client")
    for r in runs:
        spent = "".join(f"  {role} {r.cpu[role]:.3f}" for role in roles if role in r.cpu)
        lines.append(f"  {r.name:<{width}}{spent}  total {sum(r.cpu.values()):.3f}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.tasks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tasks", type=int, default=5000, help="tasks per system")
    parser.add_argument("--workers", type=int, default=2, help="worker processes per system")
    parser.add_argument("--replicas", type=int, action="append",
                        help="tasks-service replicas sharing voka's shards by lease; repeat for "
                        "a row of each (default 1)")  # fmt: skip
    parser.add_argument("--database", action="append",
                        help=f"{SQLITE!r} (default) or a PostgreSQL server's URL (trust or a "
                        "password in it; the bench creates a database per row and drops it); "
                        "repeat for a row of each")  # fmt: skip
    parser.add_argument("--only", default="voka,voka-single,celery,dramatiq",
                        help="comma-separated: voka, voka-single, celery, dramatiq")  # fmt: skip
    parser.add_argument(
        "--in-flight",
        type=int,
        default=SINGLE_IN_FLIGHT,
        help="unary SubmitTask calls in flight (voka-single)",
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per system")
    args = parser.parse_args(argv)
    setups = [Setup(database, replicas, args.in_flight) for database in args.database or [SQLITE]
              for replicas in args.replicas or [1]]  # fmt: skip
    print(f"{args.tasks} no-op tasks per system, {args.workers} worker processes each, "
          f"voka on {', '.join(s.label for s in setups)}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    runs = []
    work = Path(tempfile.mkdtemp(prefix="voka-bench-tasks-"))
    try:
        names = [name.strip() for name in args.only.split(",")]
        for index, (name, setup) in enumerate(runs_of(names, setups)):
            runs.append(run_one(name, setup, work / f"{index}-{name}", args))
            print(f"  {runs[-1].name}: {runs[-1].rate:.0f} tasks/s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
