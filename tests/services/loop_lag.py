"""The event-loop-lag check of every service (issue 16, item 3): drive a service's RPCs in
process while a probe samples the event loop they share, and name the RPC that held it.

A service runs every call on one event loop; a handler that blocks it (a file read, a catalogue
rebuilt per call, a synchronous library call) delays every other call of the process, which no
per-RPC latency shows. The services run in the test's process (`voka.server.start`), so a probe
on the test's loop is a probe on theirs. Each RPC is one phase: its calls run, some at once,
while the probe asks to wake every `TICK` and records how late it woke.

Late is not always blocked. Models run in worker threads (the issue allows it), and while they
hold the interpreter lock or the two cores (argon2id's lanes, torch's threads), or while other
work on the machine has them, the loop waits to be let back in, through no fault of its own
code. Two measures tell its own work apart, and a hold counts as blocked as far as the larger
says:

* the CPU time of the loop's thread between two wakes (`time.thread_time`): a handler that
  computes, or a C call that keeps the interpreter lock, spends it; a loop kept waiting does not;
* a watchdog thread that looks at the loop thread every `TICK` while the probe is late: a look
  that finds it outside its selector and asleep in the kernel on anything but a futex (a
  synchronous file read, socket call or sleep, which spend no CPU) counts as stuck, and the hold
  is blocked in the share of stuck looks. A futex is the interpreter lock's wait as much as a
  lock's, so it does not count: a thread holding the interpreter lock is the threads' doing. The
  first look outside the selector keeps its stack, so a failure shows the blocking line, not
  only the RPC.

Made not to be flaky on a 2-core CI machine shared with other work: a phase over the limit runs
again, up to `TRIES` times, and fails only when every try blocked the loop (a blocking handler
blocks every time; a descheduled process or a garbage collection does not recur on cue); the
objects alive before the check are frozen out of the garbage collector's reach, so a full
collection of the session's heap does not land inside a phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from voka.ops.v1 import ops_pb2, ops_pb2_grpc

Metadata = tuple[tuple[str, str], ...]

# The bound: no RPC may block a service's loop longer than this.
LIMIT_SECONDS = 0.05
TICK = 0.005  # the probe's interval: blocks shorter than this may fall between two wakes
TRIES = 3
STACK_FRAMES = 12  # innermost frames of the loop thread shown for a block


@dataclass(frozen=True)
class Phase:
    """One RPC driven: `calls` times, `in_flight` at once (each call made by `call`)."""

    rpc: str
    call: Callable[[], Awaitable[object]]
    calls: int = 24
    in_flight: int = 8


@dataclass(frozen=True)
class Stall:
    """The most the loop was blocked in a phase, how late the probe woke then, and where the
    loop thread was."""

    blocked: float = 0.0
    late: float = 0.0
    stack: str = ""


class _Hold:
    """The watchdog's looks at the loop thread during one late wake of the probe."""

    def __init__(self) -> None:
        self.looks = 0
        self.stuck = 0
        self.stack = ""

    def stuck_share(self, late: float) -> float:
        """The share of `late` the looks found the loop stuck in a call (none: no look)."""
        return late * self.stuck / self.looks if self.looks else 0.0


class LoopWatch:
    """A probe on the running loop and a watchdog thread, for one service's phases."""

    def __init__(self) -> None:
        self._loop_thread = threading.get_ident()
        self._task = Path(f"/proc/self/task/{threading.get_native_id()}")
        self._lock = threading.Lock()  # the probe and the watchdog share the fields below
        self._beat = time.perf_counter()
        self._hold = _Hold()
        self._worst = Stall()
        self._stop = threading.Event()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoopWatch]:
        probe = asyncio.create_task(self._sample(), name="loop-lag-probe")
        watchdog = threading.Thread(target=self._watch, name="loop-lag-watchdog", daemon=True)
        watchdog.start()
        try:
            yield self
        finally:
            self._stop.set()
            probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await probe
            await asyncio.to_thread(watchdog.join)

    async def worst_during(self, phase: Phase) -> Stall:
        """Drive the phase; the worst block of the loop while it ran."""
        await asyncio.sleep(2 * TICK)  # the probe is on time before the phase starts
        with self._lock:
            self._worst = Stall()
        left = iter(range(phase.calls))

        async def caller() -> None:
            for _ in left:
                await phase.call()

        await asyncio.gather(*(caller() for _ in range(min(phase.in_flight, phase.calls))))
        await asyncio.sleep(2 * TICK)  # a hold at the very end is recorded by the next wake
        with self._lock:
            return self._worst

    async def _sample(self) -> None:
        spent = time.thread_time()  # the loop thread's CPU so far (this runs on it)
        while True:
            due = time.perf_counter() + TICK
            await asyncio.sleep(TICK)
            woke, cpu = time.perf_counter(), time.thread_time()
            late, computed, spent = max(0.0, woke - due), cpu - spent, cpu
            with self._lock:
                hold, self._hold, self._beat = self._hold, _Hold(), woke
                blocked = max(min(late, computed), hold.stuck_share(late))
                if blocked > self._worst.blocked:
                    self._worst = Stall(blocked, late, hold.stack)

    def _watch(self) -> None:
        """While the probe is late, look where the loop thread is."""
        while not self._stop.wait(TICK):
            frame = sys._current_frames().get(self._loop_thread)
            outside = frame is not None and not _in_selector(frame)
            stuck = outside and self._asleep_in_a_call()
            with self._lock:
                if frame is None or time.perf_counter() - self._beat < 2 * TICK:
                    continue  # on time
                self._hold.looks += 1
                self._hold.stuck += stuck
                if outside and not self._hold.stack:
                    self._hold.stack = "".join(traceback.format_stack(frame)[-STACK_FRAMES:])

    def _asleep_in_a_call(self) -> bool:
        """Whether the loop thread sleeps in the kernel on something else than a futex (Linux's
        /proc; elsewhere every look outside the selector counts)."""
        try:
            state = (self._task / "stat").read_text().rsplit(")", 1)[1].split()[0]
            waits_on = (self._task / "wchan").read_text()
        except OSError:
            return True
        return state in {"S", "D"} and "futex" not in waits_on


def _in_selector(frame: FrameType) -> bool:
    """Whether the loop thread is waiting for events (or for the lock, once they came)."""
    code = frame.f_code
    return code.co_name in {"select", "poll"} and code.co_filename.endswith("selectors.py")


@contextlib.contextmanager
def _heap_frozen() -> Iterator[None]:
    """The objects alive now out of the collector's generations for the check's duration."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def blocked_phases(service: str, phases: Sequence[Phase]) -> list[str]:
    """Drive each phase (again when over the limit, up to TRIES); a line per RPC that held the
    loop longer than LIMIT_SECONDS in every try, naming the service, the RPC and the stack."""
    failures = []
    with _heap_frozen():
        async with LoopWatch().running() as watch:
            for phase in phases:
                stalls = []
                for _ in range(TRIES):
                    stall = await watch.worst_during(phase)
                    stalls.append(stall)
                    if stall.blocked <= LIMIT_SECONDS:
                        break
                else:
                    failures.append(_described(service, phase.rpc, stalls))
    return failures


def _described(service: str, rpc: str, stalls: Sequence[Stall]) -> str:
    held = ", ".join(f"{s.blocked * 1000:.0f} ms (late {s.late * 1000:.0f} ms)" for s in stalls)
    stack = next((s.stack for s in stalls if s.stack), "(no look caught it outside its selector)")
    return (
        f"{service} {rpc} blocked the event loop longer than {LIMIT_SECONDS * 1000:.0f} ms in "
        f"each of {len(stalls)} tries ({held}); the loop thread was at:\n{stack}"
    )


def kit_phases(
    channel: grpc.aio.Channel, service: str, admin: Metadata, *, database: bool = True
) -> list[Phase]:
    """The kit's RPCs every service serves: health (gRPC's and Voka's, a watch's first
    snapshot), the admin views (each asks every declared service), recent errors, backups."""
    ops = ops_pb2_grpc.OpsServiceStub(channel)
    checks = health_pb2_grpc.HealthStub(channel)

    async def first_snapshot() -> None:
        request = ops_pb2.WatchHealthRequest(service=service, max_events=1)
        async for _ in ops.WatchHealth(request):
            pass

    phases = [
        Phase("grpc.health.v1.Health/Check", lambda: checks.Check(health_pb2.HealthCheckRequest())),
        Phase("GetHealth", lambda: ops.GetHealth(ops_pb2.GetHealthRequest(service=service))),
        Phase("WatchHealth", first_snapshot),
        Phase("GetSystemMonitoring", lambda: ops.GetSystemMonitoring(
            ops_pb2.GetSystemMonitoringRequest(), metadata=admin)),
        Phase("GetApiMonitoring", lambda: ops.GetApiMonitoring(
            ops_pb2.GetApiMonitoringRequest(), metadata=admin)),
        Phase("GetRecentErrors", lambda: ops.GetRecentErrors(
            ops_pb2.GetRecentErrorsRequest(service=service), metadata=admin)),
    ]  # fmt: skip
    if database:
        request = ops_pb2.ListBackupsRequest(service=service)
        phases.append(Phase("ListBackups", lambda: ops.ListBackups(request, metadata=admin)))
    return phases


async def assert_loop_free(
    service: str, port: int, admin: Metadata, phases: Sequence[Phase], *, database: bool = True
) -> None:
    """The service's own phases, then the kit's; fails naming each RPC that held the loop."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        kit = kit_phases(channel, service, admin, database=database)
        failures = await blocked_phases(service, [*phases, *kit])
    assert not failures, "\n\n".join(failures)
