"""Metrics, scheduler status, operator control and demo tasks, through gRPC in process."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2
from prometheus_client import REGISTRY

from services.tasks.lease_store import LeaseStore
from services.tasks.policy import shard_of
from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.conftest import WAIT, wait_final
from voka.server import Running
from voka.tasks.v1 import tasks_pb2

SHARDS = 4  # conftest's tasks_shards


def submit(function: str, **args: object) -> tasks_pb2.SubmitTaskRequest:
    struct = struct_pb2.Struct()
    struct.update(args)
    return tasks_pb2.SubmitTaskRequest(function_name=function, args=struct)


async def stored_pauses(service: Running) -> tuple[set[int], set[int]]:
    """The pauses in the service's database, read through its own transactions."""
    assert service.resources.transactions is not None
    return await LeaseStore(service.resources.transactions).pauses()


async def figures(stub, metadata) -> tasks_pb2.TaskMetrics:
    return (await stub.GetTaskMetrics(tasks_pb2.GetTaskMetricsRequest(), metadata=metadata)).metrics


async def test_metrics_count_submitted_and_succeeded_tasks(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/alice")
    before = await figures(stub, me)
    replies = [await stub.SubmitTask(submit("math.add", a=i, b=1), metadata=me) for i in range(3)]
    for reply in replies:
        assert (await wait_final(stub, reply.name, me)).state == tasks_pb2.TASK_STATE_SUCCEEDED
    after = await figures(stub, me)
    async with asyncio.timeout(WAIT):  # counted just after the database change
        while after.counters.succeeded - before.counters.succeeded < 3:
            await asyncio.sleep(0.02)
            after = await figures(stub, me)
    assert after.counters.submitted - before.counters.submitted >= 3
    assert after.counters.succeeded - before.counters.succeeded >= 3
    assert after.counters.started - before.counters.started >= 3
    assert after.queue_latency.count - before.queue_latency.count >= 3
    assert after.run_time.count - before.run_time.count >= 3
    latency = after.queue_latency
    assert latency.p50.ToTimedelta() <= latency.p99.ToTimedelta() <= latency.max.ToTimedelta()
    assert after.queue_latency.buckets[-1].count == after.queue_latency.count  # +Inf bucket
    assert after.submitted_per_second > 0
    assert after.window.seconds == 60
    general = next(p for p in after.pools if p.worker_type == tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE)
    assert general.capacity > 0
    assert REGISTRY.get_sample_value(
        "voka_tasks_succeeded_total", {"worker_type": "general_purpose"}
    )
    window = duration_pb2.Duration(seconds=1)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTaskMetrics(tasks_pb2.GetTaskMetricsRequest(window=window), metadata=me)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_status_lists_every_shard_leased_to_this_lone_replica(stub, tokens: TokenFactory):
    status = (
        await stub.GetSchedulerStatus(
            tasks_pb2.GetSchedulerStatusRequest(), metadata=tokens.metadata()
        )
    ).status
    assert status.shard_count == SHARDS
    assert [s.shard for s in status.shards] == list(range(SHARDS))
    assert {s.owner_replica for s in status.shards} == {status.answered_by}
    assert {s.state for s in status.shards} == {tasks_pb2.SHARD_STATE_ACTIVE}
    assert [r.id for r in status.replicas] == [status.answered_by]
    assert len(status.pools) == 5
    io = next(p for p in status.pools if p.worker_type == tasks_pb2.WORKER_TYPE_IO_INTENSIVE)
    assert io.current_workers == 1
    assert io.concurrency_per_worker > 0


async def test_paused_worker_type_keeps_tasks_queued_until_resumed(
    stub, tokens: TokenFactory, service: Running
):
    admin, me = tokens.metadata(roles=("admin",)), tokens.metadata(subject="users/dave")
    pause = tasks_pb2.ControlSchedulerRequest(
        pause_worker_type=tasks_pb2.PauseWorkerTypeAction(
            worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE
        )
    )
    resume = tasks_pb2.ControlSchedulerRequest(
        resume_worker_type=tasks_pb2.ResumeWorkerTypeAction(
            worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE
        )
    )
    try:
        paused = await stub.ControlScheduler(pause, metadata=admin)
        assert tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE in paused.status.paused_worker_types
        # Stored, so every replica (and this one after a restart) applies it.
        assert await stored_pauses(service) == (set(), {tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE})
        reply = await stub.SubmitTask(submit("demo.noop"), metadata=me)
        await asyncio.sleep(0.3)  # several scheduler ticks (50 ms)
        task = (await stub.GetTask(tasks_pb2.GetTaskRequest(name=reply.name), metadata=me)).task
        assert task.state == tasks_pb2.TASK_STATE_QUEUED
        depth = await figures(stub, me)
        assert any(
            q.worker_type == tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE for q in depth.queue_depths
        )
    finally:
        resumed = await stub.ControlScheduler(resume, metadata=admin)
    assert not resumed.status.paused_worker_types
    assert await stored_pauses(service) == (set(), set())
    assert (await wait_final(stub, reply.name, me)).state == tasks_pb2.TASK_STATE_SUCCEEDED


async def test_paused_shard_shows_in_status_and_bad_actions_are_refused(stub, tokens: TokenFactory):
    admin = tokens.metadata(roles=("admin",))
    pause = tasks_pb2.ControlSchedulerRequest(pause_shard=tasks_pb2.PauseShardAction(shard=2))
    resume = tasks_pb2.ControlSchedulerRequest(resume_shard=tasks_pb2.ResumeShardAction(shard=2))
    try:
        status = (await stub.ControlScheduler(pause, metadata=admin)).status
        assert list(status.paused_shards) == [2]
        assert status.shards[2].state == tasks_pb2.SHARD_STATE_PAUSED
    finally:
        await stub.ControlScheduler(resume, metadata=admin)
    refused = {
        "out of range": tasks_pb2.ControlSchedulerRequest(
            pause_shard=tasks_pb2.PauseShardAction(shard=SHARDS)
        ),
        "no action": tasks_pb2.ControlSchedulerRequest(),
        "resize beyond 1024": tasks_pb2.ControlSchedulerRequest(
            resize_pool=tasks_pb2.ResizePoolAction(
                worker_type=tasks_pb2.WORKER_TYPE_IO_INTENSIVE, max_workers=2000
            )
        ),
        "drain unknown": tasks_pb2.ControlSchedulerRequest(
            drain_replica=tasks_pb2.DrainReplicaAction(replica="nobody:1")
        ),
    }
    codes = {}
    for what, request in refused.items():
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ControlScheduler(request, metadata=admin)
        codes[what] = err.value.code()
    assert codes == {
        "out of range": grpc.StatusCode.INVALID_ARGUMENT,
        "no action": grpc.StatusCode.INVALID_ARGUMENT,
        "resize beyond 1024": grpc.StatusCode.INVALID_ARGUMENT,
        "drain unknown": grpc.StatusCode.NOT_FOUND,
    }


async def test_keyless_tasks_avoid_a_paused_shard_and_keyed_ones_wait_in_it(
    stub, tokens: TokenFactory
):
    admin, me = tokens.metadata(roles=("admin",)), tokens.metadata(subject="users/dora")
    actions = [tasks_pb2.PauseShardAction(shard=shard) for shard in (0, 1, 2)]
    resumes = [tasks_pb2.ResumeShardAction(shard=shard) for shard in (0, 1, 2)]
    keyed = submit("demo.noop")
    keyed.shard_key = next(k for k in map(str, range(100)) if shard_of(k, SHARDS) == 0)
    try:
        for action in actions:
            await stub.ControlScheduler(
                tasks_pb2.ControlSchedulerRequest(pause_shard=action), metadata=admin
            )
        held = await stub.SubmitTask(keyed, metadata=me)
        names = []
        for _ in range(6):  # over several placement slots
            names.append((await stub.SubmitTask(submit("demo.noop"), metadata=me)).name)
            await asyncio.sleep(0.03)
        for name in names:
            task = await wait_final(stub, name, me)
            assert (task.shard, task.state) == (3, tasks_pb2.TASK_STATE_SUCCEEDED)
        task = (await stub.GetTask(tasks_pb2.GetTaskRequest(name=held.name), metadata=me)).task
        assert (task.shard, task.state) == (0, tasks_pb2.TASK_STATE_QUEUED)
    finally:
        for resume in resumes:
            await stub.ControlScheduler(
                tasks_pb2.ControlSchedulerRequest(resume_shard=resume), metadata=admin
            )
    assert (await wait_final(stub, held.name, me)).state == tasks_pb2.TASK_STATE_SUCCEEDED


async def test_control_needs_an_admin(stub, tokens: TokenFactory):
    pause = tasks_pb2.ControlSchedulerRequest(pause_shard=tasks_pb2.PauseShardAction(shard=0))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ControlScheduler(pause, metadata=tokens.metadata(subject="users/eve"))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_demo_submission_creates_tasks_that_complete(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/frank")
    request = tasks_pb2.SubmitDemoTasksRequest(
        count=6, worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE
    )
    reply = await stub.SubmitDemoTasks(request, metadata=me)
    assert reply.count == 6
    assert len(set(reply.names)) == 6
    tasks = [await wait_final(stub, name, me) for name in reply.names]
    assert {t.state for t in tasks} == {tasks_pb2.TASK_STATE_SUCCEEDED}
    assert {t.owner for t in tasks} == {"users/frank"}
    assert len({t.function_name for t in tasks}) > 1  # a mix of the demo functions
    sleepers = await stub.SubmitDemoTasks(
        tasks_pb2.SubmitDemoTasksRequest(
            count=2, function_name="demo.sleep", task_duration=duration_pb2.Duration(nanos=10**7)
        ),
        metadata=me,
    )
    for name in sleepers.names:
        assert (await wait_final(stub, name, me)).result.number_value == pytest.approx(0.01)


@pytest.mark.parametrize(
    "request_",
    [
        tasks_pb2.SubmitDemoTasksRequest(count=-1),
        tasks_pb2.SubmitDemoTasksRequest(count=10_001),
        tasks_pb2.SubmitDemoTasksRequest(function_name="math.sum"),  # registered, not a demo
        tasks_pb2.SubmitDemoTasksRequest(failure_rate=1.5),
    ],
)
async def test_demo_submission_out_of_bounds_is_invalid(stub, tokens: TokenFactory, request_):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitDemoTasks(request_, metadata=tokens.metadata())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
