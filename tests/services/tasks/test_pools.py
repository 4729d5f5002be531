"""Worker heartbeats, pools and the autoscaler, through gRPC in process on a real NATS server
and SQLite: a 1 s visibility timeout (beats every third of it) and one slot per worker, so a
second attempt waits in JetStream while the first runs.

Each test uses its own worker type: IO_INTENSIVE has the embedded worker, GENERAL_PURPOSE a
fake worker of the test's own, CPU_INTENSIVE no worker at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2
from nats.aio.msg import Msg
from prometheus_client import REGISTRY

from services.tasks.events import type_token
from services.tasks.service import SPEC
from services.tasks.settings import TasksSettings
from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tests.services.tasks.conftest import wait_final
from tests.services.tasks.effects import EFFECTS_DIR
from tests.services.tasks.test_service import violations
from tools.processes import NatsServer
from voka.bus import Bus, subject_of
from voka.server import Running, start
from voka.tasks.v1 import events_pb2, tasks_pb2

VISIBILITY = 1.0
IO, GENERAL, CPU = (tasks_pb2.WORKER_TYPE_IO_INTENSIVE, tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
                    tasks_pb2.WORKER_TYPE_CPU_INTENSIVE)  # fmt: skip
WAIT = 20.0


@pytest.fixture(scope="module")
def effects(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """test.effect (tests/services/tasks/effects.py) logs each run here."""
    directory = tmp_path_factory.mktemp("effects")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(EFFECTS_DIR, str(directory))
        yield directory


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, effects: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    settings = TasksSettings(
        service="tasks", port=0, data_dir=tmp_path_factory.mktemp("data"),
        jwks_file=tokens.jwks_file, nats_url=nats.url, tasks_shards=4,
        tasks_tick_seconds=0.05, tasks_visibility_seconds=VISIBILITY,
        tasks_retry_base_seconds=0.05, tasks_retry_max_seconds=0.2,
        tasks_embedded_workers=["IO_INTENSIVE"], tasks_worker_concurrency=1,
        tasks_function_modules=["tests.services.tasks.effects"], rate_limit_per_second=0,
    )  # fmt: skip
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture
async def bus(nats: NatsServer) -> AsyncIterator[Bus]:
    bus = await Bus.connect(nats.url, name="test-pools")
    yield bus
    await bus.close()


def request(function: str, timeout: int, **args: object) -> tasks_pb2.SubmitTaskRequest:
    struct = struct_pb2.Struct()
    struct.update(args)
    return tasks_pb2.SubmitTaskRequest(function_name=function, args=struct, max_attempts=5,
                               attempt_timeout=duration_pb2.Duration(seconds=timeout))  # fmt: skip


async def get(stub, name: str, me) -> tasks_pb2.Task:
    return (await stub.GetTask(tasks_pb2.GetTaskRequest(name=name), metadata=me)).task


async def pool(stub, me, worker_type: int) -> tasks_pb2.Pool:
    status = (
        await stub.GetSchedulerStatus(tasks_pb2.GetSchedulerStatusRequest(), metadata=me)
    ).status
    return next(p for p in status.pools if p.worker_type == worker_type)


async def test_an_attempt_waiting_then_running_past_its_bound_completes_once(
    stub, tokens: TokenFactory, effects: Path
):
    """One slot: the second task waits ~2.5 s in JetStream, then runs 2.5 s, ending ~5 s after
    its dispatch, past the dispatch-time bound (3 s timeout + 1 s visibility). The worker's
    beats keep it alive, and its in-progress acks keep JetStream from handing it out again."""
    me = tokens.metadata(subject="users/alice")
    names = [
        (await stub.SubmitTask(request("test.effect", 3, key=key, seconds=2.5), metadata=me)).name
        for key in ("first", "second")
    ]
    tasks = [await wait_final(stub, name, me, within=WAIT) for name in names]
    assert [t.state for t in tasks] == [tasks_pb2.TASK_STATE_SUCCEEDED] * 2
    assert [t.attempts for t in tasks] == [1, 1]
    assert sorted((effects / "runs.log").read_text().split()) == ["first", "second"]


async def test_status_and_metrics_show_the_live_worker_and_its_busy_slot(
    stub, tokens: TokenFactory
):
    me = tokens.metadata(subject="users/bob")
    name = (await stub.SubmitTask(request("demo.sleep", 10, seconds=2.0), metadata=me)).name

    async def busy() -> bool:
        io = await pool(stub, me, IO)
        return io.busy == 1

    await eventually(busy, WAIT)
    io = await pool(stub, me, IO)
    assert (io.current_workers, io.concurrency_per_worker) == (1, 1)
    assert (io.min_workers, io.max_workers, io.desired_workers) == (1, 1, 1)  # not bounded
    figures = (await stub.GetTaskMetrics(tasks_pb2.GetTaskMetricsRequest(), metadata=me)).metrics
    io_figures = next(p for p in figures.pools if p.worker_type == IO)
    assert (io_figures.workers, io_figures.capacity, io_figures.busy) == (1, 1, 1)
    cpu = next(p for p in figures.pools if p.worker_type == CPU)
    assert (cpu.workers, cpu.capacity, cpu.busy) == (0, 0, 0)

    async def utilised() -> bool:
        figures = (
            await stub.GetTaskMetrics(tasks_pb2.GetTaskMetricsRequest(), metadata=me)
        ).metrics
        return next(p for p in figures.pools if p.worker_type == IO).utilisation > 0.5

    await eventually(utilised, WAIT)  # a whole beat interval busy
    assert (await wait_final(stub, name, me, within=WAIT)).state == tasks_pb2.TASK_STATE_SUCCEEDED

    async def idle() -> bool:
        return (await pool(stub, me, IO)).busy == 0

    await eventually(idle, WAIT)


async def test_beats_keep_an_attempt_alive_and_their_silence_loses_it(
    stub, tokens: TokenFactory, bus: Bus
):
    """A fake GENERAL_PURPOSE worker takes the dispatch and only beats: the attempt outlives
    its dispatch-time bound (1 s timeout + 1 s visibility) while the beats go on, and fails
    with WorkerLost once they stop."""
    me = tokens.metadata(subject="users/carol")
    name = (await stub.SubmitTask(request("demo.noop", 1), metadata=me)).name
    token = type_token(GENERAL)
    pull = await bus.js.pull_subscribe(f"{subject_of(events_pb2.TaskDispatchedEvent)}.{token}",
                                       durable=f"tasks-workers-{token}")  # fmt: skip
    [msg] = await pull.fetch(1, timeout=WAIT)
    [dispatch] = events_pb2.TaskDispatchedEvent.FromString(msg.data).dispatches
    beat = events_pb2.WorkerStatusReportedEvent(
        worker="fake:1", worker_type=GENERAL, concurrency=1,
        in_flight=[events_pb2.InFlightAttempt(task=dispatch.task, attempt=dispatch.attempt,
                                              dispatch_id=dispatch.dispatch_id,
                                              shard=dispatch.shard)],
    )  # fmt: skip
    for _ in range(12):  # 4 s: twice the dispatch-time bound
        await bus.emit(beat, suffix=token)
        await asyncio.sleep(VISIBILITY / 3)
    task = await get(stub, name, me)
    assert (task.state, task.attempts) == (tasks_pb2.TASK_STATE_RUNNING, 1)
    assert (await pool(stub, me, GENERAL)).busy == 1
    silent = asyncio.get_running_loop().time()

    async def lost() -> bool:
        return (await get(stub, name, me)).last_error.type == "WorkerLost"

    await eventually(lost, WAIT)
    # Given up one visibility timeout after JetStream would have handed the dispatch out again.
    assert asyncio.get_running_loop().time() - silent >= 2 * VISIBILITY - 0.4
    await msg.ack()


async def test_resize_stores_the_bounds_and_tells_the_supervisors(
    stub, tokens: TokenFactory, bus: Bus
):
    """An operator bounds the CPU pool; the autoscaler sizes it to the tasks waiting for it
    (no worker runs them: default concurrency 1, so 2 tasks want 3 workers at 80 %), then
    steps down one worker a round once they are gone."""
    admin, me = tokens.metadata(roles=("admin",)), tokens.metadata(subject="users/dave")
    resized: asyncio.Queue[events_pb2.PoolResizedEvent] = asyncio.Queue()

    async def on_resized(msg: Msg) -> None:
        await resized.put(events_pb2.PoolResizedEvent.FromString(msg.data))

    await bus.nc.subscribe(f"{subject_of(events_pb2.PoolResizedEvent)}.{type_token(CPU)}",
                           cb=on_resized)  # fmt: skip
    action = tasks_pb2.ResizePoolAction(worker_type=CPU, min_workers=0, max_workers=4)
    reply = await stub.ControlScheduler(tasks_pb2.ControlSchedulerRequest(resize_pool=action),
                                        metadata=admin)  # fmt: skip
    cpu = next(p for p in reply.status.pools if p.worker_type == CPU)
    assert (cpu.min_workers, cpu.max_workers, cpu.desired_workers) == (0, 4, 0)
    event = await asyncio.wait_for(resized.get(), WAIT)
    assert (event.cause, event.min_workers, event.max_workers, event.desired_workers) == (
        events_pb2.POOL_RESIZE_CAUSE_OPERATOR, 0, 4, 0)  # fmt: skip

    names = [(await stub.SubmitTask(request("demo.cpu_burn", 1, seconds=0), metadata=me)).name
             for _ in range(2)]  # fmt: skip
    event = await asyncio.wait_for(resized.get(), WAIT)
    assert (event.cause, event.desired_workers) == (events_pb2.POOL_RESIZE_CAUSE_AUTOSCALER, 3)
    assert (await pool(stub, me, CPU)).desired_workers == 3
    assert (
        REGISTRY.get_sample_value("voka_tasks_pool_max_workers", {"worker_type": type_token(CPU)})
        == 4
    )

    for name in names:  # no worker: each ends CANCELLED once its attempt is lost
        await stub.CancelTask(tasks_pb2.CancelTaskRequest(name=name), metadata=me)
    steps = [(await asyncio.wait_for(resized.get(), WAIT)).desired_workers for _ in range(3)]
    assert steps == [2, 1, 0]
    assert (await pool(stub, me, CPU)).desired_workers == 0


async def test_resize_needs_an_admin_and_valid_bounds(stub, tokens: TokenFactory):
    action = tasks_pb2.ResizePoolAction(worker_type=IO, min_workers=1, max_workers=2)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ControlScheduler(tasks_pb2.ControlSchedulerRequest(resize_pool=action),
                                    metadata=tokens.metadata(subject="users/eve"))  # fmt: skip
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert (await pool(stub, tokens.metadata(), IO)).max_workers == 1  # unchanged
    bad = tasks_pb2.ResizePoolAction(worker_type=IO, min_workers=3, max_workers=2)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ControlScheduler(tasks_pb2.ControlSchedulerRequest(resize_pool=bad),
                                    metadata=tokens.metadata(roles=("admin",)))  # fmt: skip
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(violations(err.value)) == {"resize_pool.min_workers"}
