"""A worker supervisor: keeps as many local worker processes per worker type as the pool's
latest PoolResizedEvent wants, for dedicated pools (`make up` runs the embedded worker instead).

`python -m services.tasks.supervisor --type CPU_INTENSIVE [--type IO_INTENSIVE] [--concurrency 8]
[--workers 1]`

At start it reads the last PoolResizedEvent stored for each type (`--workers` while there is
none: a pool nobody bounded), then follows new ones on core NATS and re-reads the stored one
every RECHECK seconds, so a lost message delays a resize by that much at most. It starts
`python -m services.tasks.worker --type T` processes to match, stops the newest ones with
SIGTERM (a worker drains: it stops pulling, finishes and reports its running attempts, then
exits), and replaces a worker that died. SIGTERM to the supervisor drains every worker.

The size is per supervisor: run one supervisor per pool (the Kubernetes Deployment
`tasks-workers` runs one pod), or desired counts multiply.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError

from services.tasks.events import parse_worker_type, type_token
from services.tasks.records import WorkerType
from services.tasks.settings import TasksSettings
from voka import event_loop, telemetry
from voka.bus import Bus, Listener, domain_of, subject_of
from voka.tasks.v1 import events_pb2, tasks_pb2

log = logging.getLogger("voka.tasks.supervisor")
RECHECK = 10.0  # seconds between reads of the stored PoolResizedEvent
RECONCILE = 1.0  # seconds between checks that the processes match (dead ones replaced)
Resized = events_pb2.PoolResizedEvent


class LocalPool:
    """The worker processes of one worker type on this machine."""

    def __init__(self, worker_type: WorkerType, concurrency: int) -> None:
        self.worker_type = worker_type
        worker = ["--type", type_token(worker_type), "--concurrency", str(concurrency)]
        self._command = [sys.executable, "-m", "services.tasks.worker", *worker]
        self.running: list[asyncio.subprocess.Process] = []
        self.stopping: list[asyncio.subprocess.Process] = []

    async def scale(self, desired: int) -> None:
        """Forget exited workers, then start or stop (newest first) to have `desired`."""
        for process in [p for p in self.running + self.stopping if p.returncode is not None]:
            log.info("worker %d exited (%d)", process.pid, process.returncode)
        self.running = [p for p in self.running if p.returncode is None]
        self.stopping = [p for p in self.stopping if p.returncode is None]
        while len(self.running) < desired:
            process = await asyncio.create_subprocess_exec(*self._command)
            log.info("worker %d started for %s", process.pid, type_token(self.worker_type))
            self.running.append(process)
        while len(self.running) > desired:
            process = self.running.pop()
            process.send_signal(signal.SIGTERM)
            log.info("worker %d draining", process.pid)
            self.stopping.append(process)

    async def stop(self, grace: float) -> None:
        """Drain every worker; kill those still running after `grace` seconds."""
        await self.scale(0)
        waits = [asyncio.create_task(p.wait()) for p in self.stopping]
        if not waits:
            return
        _, late = await asyncio.wait(waits, timeout=grace)
        for process in self.stopping:
            if process.returncode is None:
                process.kill()
        await asyncio.gather(*late, return_exceptions=True)


class Supervisor:
    """The wanted size of each pool, and the loop that keeps the local processes to it."""

    def __init__(
        self, bus: Bus, worker_types: Sequence[WorkerType], concurrency: int, initial: int
    ) -> None:
        self._bus = bus
        self._pools = {t: LocalPool(t, concurrency) for t in worker_types}
        self._initial = initial
        self.desired: dict[WorkerType, int] = {}
        self._wake = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._listeners: list[Listener] = []

    async def start(self) -> None:
        await self.recheck()
        for worker_type in self._pools:
            subject = f"{subject_of(Resized)}.{type_token(worker_type)}"
            self._listeners.append(await self._bus.listen(subject, self._on_resized))
        self._loops = [asyncio.create_task(self._reconcile()), asyncio.create_task(self._poll())]

    async def stop(self, grace: float) -> None:
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for listener in self._listeners:
            await listener.stop()
        await asyncio.gather(*(pool.stop(grace) for pool in self._pools.values()))

    async def recheck(self) -> None:
        """The last stored event of each type (the initial size when there is none)."""
        for worker_type in self._pools:
            event = await self._last(worker_type)
            self._want(worker_type, event.desired_workers if event else self._initial)

    async def _last(self, worker_type: WorkerType) -> Resized | None:
        subject = f"{subject_of(Resized)}.{type_token(worker_type)}"
        stream = await self._bus.ensure_stream(domain_of(subject))
        try:
            stored = await self._bus.js.get_last_msg(stream, subject)
        except NotFoundError:
            return None
        return Resized.FromString(stored.data or b"")

    async def _on_resized(self, msg: Msg) -> None:
        with contextlib.suppress(DecodeError):
            event = Resized.FromString(msg.data)
            if event.worker_type in self._pools:
                self._want(event.worker_type, event.desired_workers)

    def _want(self, worker_type: WorkerType, desired: int) -> None:
        if self.desired.get(worker_type) != desired:
            log.info("%s: %d workers wanted", type_token(worker_type), desired)
            self.desired[worker_type] = max(0, desired)
            self._wake.set()

    async def _reconcile(self) -> None:
        while True:
            for worker_type, pool in self._pools.items():
                await pool.scale(self.desired.get(worker_type, self._initial))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECONCILE):
                    await self._wake.wait()
            self._wake.clear()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(RECHECK)
            try:
                await self.recheck()
            except Exception as exc:  # NATS away: the next round tries again
                log.warning("could not read the stored pool sizes: %s", exc)


async def _serve(types: Sequence[WorkerType], concurrency: int, initial: int) -> None:
    settings = TasksSettings(service="tasks")
    bus = await Bus.connect(settings.nats_url, name="voka-tasks-supervisor")
    supervisor = Supervisor(bus, types, concurrency, initial)
    await supervisor.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("supervising %s", [type_token(t) for t in types])
    await stop.wait()
    # The workers' own drain takes up to their shutdown grace; a little more for the exit.
    await supervisor.stop(settings.shutdown_grace_seconds + 5)
    await bus.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Runs the Voka task workers a pool wants.")
    parser.add_argument("--type", action="append", required=True, help="worker type, repeatable")
    parser.add_argument("--concurrency", type=int, default=8, help="attempts per worker")
    parser.add_argument("--workers", type=int, default=1, help="until a pool size is known")
    options = parser.parse_args(argv)
    settings = TasksSettings(service="tasks")
    telemetry.setup_logging("tasks-supervisor", settings.log_level, settings.log_json)
    types = [parse_worker_type(t) for t in options.type]
    if tasks_pb2.WORKER_TYPE_UNSPECIFIED in types:
        parser.error("--type: a worker type, not UNSPECIFIED")
    event_loop.run(_serve(types, options.concurrency, options.workers), settings.event_loop)


if __name__ == "__main__":
    main()
