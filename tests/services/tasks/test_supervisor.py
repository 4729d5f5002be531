"""The worker supervisor with real processes on a real NATS server: it starts as many workers
as the stored PoolResizedEvent wants, drains one (SIGTERM, clean exit) when the size drops, and
drains them all when it is stopped. Workers are counted twice: as the supervisor's child
processes and by their heartbeats."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from services.tasks.events import type_token
from tests.fixtures.waiting import eventually
from tests.services.tasks.processes import Child
from tools.processes import NatsServer
from voka.bus import Bus, subject_of
from voka.tasks.v1 import events_pb2, tasks_pb2

IO = tasks_pb2.WORKER_TYPE_IO_INTENSIVE
VISIBILITY = 1.5  # workers beat every 0.5 s
STARTS = 90.0  # seconds: Python processes start slowly on a busy 2-core machine
Beat = events_pb2.WorkerStatusReportedEvent


def children_of(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Beats:
    """The latest beat of each worker, and when it came."""

    def __init__(self) -> None:
        self.latest: dict[str, tuple[Beat, float]] = {}

    async def heard(self, msg: Msg) -> None:
        beat = Beat.FromString(msg.data)
        self.latest[beat.worker] = (beat, time.monotonic())

    def serving(self) -> set[int]:
        """Pids of the workers that beat, not draining, within the last visibility timeout."""
        since = time.monotonic() - VISIBILITY
        return {b.pid for b, at in self.latest.values() if at >= since and not b.draining}

    def draining(self) -> set[int]:
        return {b.pid for b, _ in self.latest.values() if b.draining}


@pytest.fixture
async def bus(nats: NatsServer) -> AsyncIterator[Bus]:
    bus = await Bus.connect(nats.url, name="test-supervisor")
    yield bus
    await bus.close()


@pytest.fixture
def start_supervisor(nats: NatsServer, tmp_path: Path) -> Iterator[list[Child]]:
    """Started by the test (after its first resize); killed with its workers at the end."""
    started: list[Child] = []
    yield started
    for child in started:
        for pid in children_of(child.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        child.kill()


def supervisor(nats: NatsServer, log: Path) -> Child:
    env = {"VOKA_NATS_URL": nats.url, "VOKA_DATA_DIR": str(log.parent / "data"),
           "VOKA_LOG_JSON": "false", "VOKA_TASKS_VISIBILITY_SECONDS": str(VISIBILITY),
           "VOKA_SHUTDOWN_GRACE_SECONDS": "5"}  # fmt: skip
    args = ["services.tasks.supervisor", "--type", "IO_INTENSIVE", "--workers", "0"]
    return Child(args, env, log)


async def resize(bus: Bus, desired: int) -> None:
    event = events_pb2.PoolResizedEvent(worker_type=IO, min_workers=0, max_workers=4,
                                        desired_workers=desired,
                                        cause=events_pb2.POOL_RESIZE_CAUSE_OPERATOR)  # fmt: skip
    await bus.publish(event, suffix=type_token(IO))


async def test_supervisor_follows_the_wanted_pool_size(
    bus: Bus, nats: NatsServer, tmp_path: Path, start_supervisor: list[Child]
) -> None:
    beats = Beats()
    await bus.nc.subscribe(f"{subject_of(Beat)}.{type_token(IO)}", cb=beats.heard)
    await resize(bus, 2)  # before the supervisor starts: it reads the stored event
    child = supervisor(nats, tmp_path / "supervisor.log")
    start_supervisor.append(child)

    async def running(count: int) -> bool:
        child.alive()
        workers = children_of(child.pid)
        return len(workers) == count and beats.serving() == workers

    await eventually(lambda: running(2), STARTS)
    first = children_of(child.pid)

    await resize(bus, 1)  # heard on core NATS
    await eventually(lambda: running(1), STARTS)
    (stopped,) = first - children_of(child.pid)
    assert stopped in beats.draining()  # it said so while finishing, then exited cleanly

    async def exited_cleanly() -> bool:
        return f"worker {stopped} exited (0)" in child.log.read_text()

    await eventually(exited_cleanly, STARTS)  # logged at the supervisor's next look

    child.stop()  # SIGTERM: every worker drains, then the supervisor exits
    assert child.process.returncode == 0
    (last,) = first - {stopped}
    assert f"worker {last} draining" in child.log.read_text()
    assert not exists(last)
