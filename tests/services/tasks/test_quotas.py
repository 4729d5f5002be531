"""Owner quotas, privileged priorities and internal functions, and what a task shows while its
pool has no worker: through gRPC in process on a real NATS server and SQLite.

Only GENERAL_PURPOSE has a worker here, so CPU_INTENSIVE tasks never run: they stay unfinished
and count against their owner's quota, and they show why they wait. The caps are tiny (6
unfinished tasks per owner; demos: 3 a call, 4 unfinished per owner)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.tasks.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.conftest import in_process, wait_final
from tools.processes import NatsServer
from voka.server import Running, start
from voka.tasks.v1 import tasks_pb2

CAP, DEMO_PER_CALL, DEMO_PER_OWNER = 6, 3, 4
WAIT = 10.0


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    settings = in_process(
        tokens, nats, tmp_path_factory.mktemp("data"), tasks_visibility_seconds=1.0,
        tasks_embedded_workers=["GENERAL_PURPOSE"], tasks_max_queued_per_owner=CAP,
        tasks_demo_max_per_call=DEMO_PER_CALL, tasks_demo_max_queued_per_owner=DEMO_PER_OWNER,
    )  # fmt: skip
    running = await start(SPEC, settings)
    yield running  # conftest's `stub` calls this one
    await running.stop()


def submit(function: str, priority: int = 0, **args: object) -> tasks_pb2.SubmitTaskRequest:
    struct = struct_pb2.Struct()
    struct.update(args)
    return tasks_pb2.SubmitTaskRequest(function_name=function, args=struct, priority=priority)


def burn() -> tasks_pb2.SubmitTaskRequest:
    """A CPU_INTENSIVE task: no worker here runs it."""
    return submit("demo.cpu_burn", seconds=0)


def quota_failure(err: grpc.aio.AioRpcError) -> error_details_pb2.QuotaFailure.Violation:
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, err
    failure = error_details_pb2.QuotaFailure()
    assert rpc_status.from_call(err).details[0].Unpack(failure)
    [violation] = failure.violations
    return violation


def refused_fields(err: grpc.aio.AioRpcError) -> set[str]:
    """PERMISSION_DENIED naming each refused field (in its message and a BadRequest)."""
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED, err
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(err).details[0].Unpack(bad)
    fields = {v.field for v in bad.field_violations}
    assert all(field in (err.details() or "") for field in fields)
    return fields


# Quotas


async def test_unary_submits_beyond_the_owner_cap_are_refused_until_one_finishes(
    stub, tokens: TokenFactory
):
    me = tokens.metadata(subject="users/q1")
    names = [(await stub.SubmitTask(burn(), metadata=me)).name for _ in range(CAP)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitTask(burn(), metadata=me)
    violation = quota_failure(err.value)
    assert violation.subject == "users/q1"
    assert f"{CAP}" in err.value.details()
    assert "unfinished" in err.value.details()
    other = tokens.metadata(subject="users/q1-neighbour")
    await stub.SubmitTask(burn(), metadata=other)  # the cap is per owner
    await stub.CancelTask(tasks_pb2.CancelTaskRequest(name=names[0]), metadata=me)
    await stub.SubmitTask(burn(), metadata=me)  # a final task frees its place


async def test_a_batch_beyond_the_cap_is_refused_whole(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/q2")
    await stub.BatchSubmitTasks(
        tasks_pb2.BatchSubmitTasksRequest(requests=[burn()] * 4), metadata=me
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.BatchSubmitTasks(
            tasks_pb2.BatchSubmitTasksRequest(requests=[burn()] * 3), metadata=me
        )
    assert quota_failure(err.value).subject == "users/q2"
    listed = await stub.ListTasks(tasks_pb2.ListTasksRequest(), metadata=me)
    assert len(listed.tasks) == 4  # nothing of the refused batch was queued


async def test_a_stream_accepts_up_to_the_cap_and_reports_the_rest(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/q3")

    async def messages() -> AsyncIterator[tasks_pb2.StreamSubmitTasksRequest]:
        yield tasks_pb2.StreamSubmitTasksRequest(requests=[burn()] * 4)
        yield tasks_pb2.StreamSubmitTasksRequest(requests=[burn()] * 4)

    summary = await stub.StreamSubmitTasks(messages(), metadata=me)
    assert (summary.received_count, summary.accepted_count, summary.refused_count) == (8, CAP, 2)
    assert [f.index for f in summary.failures] == [6, 7]
    exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    assert {f.status.code for f in summary.failures} == {exhausted}
    assert "unfinished" in summary.failures[0].status.message


async def test_demo_submissions_have_smaller_caps_per_call_and_per_owner(
    stub, tokens: TokenFactory
):
    me = tokens.metadata(subject="users/q4")
    cpu = tasks_pb2.WORKER_TYPE_CPU_INTENSIVE
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitDemoTasks(
            tasks_pb2.SubmitDemoTasksRequest(count=DEMO_PER_CALL + 1, worker_type=cpu), metadata=me
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"count: 1 to {DEMO_PER_CALL}" in err.value.details()
    first = tasks_pb2.SubmitDemoTasksRequest(count=DEMO_PER_CALL, worker_type=cpu)
    assert (await stub.SubmitDemoTasks(first, metadata=me)).count == DEMO_PER_CALL
    with pytest.raises(grpc.aio.AioRpcError) as err:  # 3 + 2 > 4, though 5 < the cap of 6
        await stub.SubmitDemoTasks(tasks_pb2.SubmitDemoTasksRequest(count=2, worker_type=cpu),
                                   metadata=me)  # fmt: skip
    assert quota_failure(err.value).subject == "users/q4"
    assert "demo" in err.value.details()


# Privileges


async def test_critical_priority_is_for_admins_and_services(stub, tokens: TokenFactory):
    user = tokens.metadata(subject="users/p1")
    critical = submit("math.add", tasks_pb2.PRIORITY_CRITICAL, a=1, b=2)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitTask(critical, metadata=user)
    assert refused_fields(err.value) == {"priority"}
    batch = tasks_pb2.BatchSubmitTasksRequest(requests=[submit("math.add", a=1, b=2), critical])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.BatchSubmitTasks(batch, metadata=user)
    assert refused_fields(err.value) == {"requests[1].priority"}

    async def messages() -> AsyncIterator[tasks_pb2.StreamSubmitTasksRequest]:
        yield tasks_pb2.StreamSubmitTasksRequest(requests=[submit("math.add", a=1, b=2), critical])

    summary = await stub.StreamSubmitTasks(messages(), metadata=user)
    assert (summary.accepted_count, summary.refused_count) == (1, 1)
    [failure] = summary.failures
    assert failure.index == 1
    assert failure.status.code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert "priority" in failure.status.message
    demo = tasks_pb2.SubmitDemoTasksRequest(count=1, priority=tasks_pb2.PRIORITY_CRITICAL)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitDemoTasks(demo, metadata=user)
    assert refused_fields(err.value) == {"priority"}

    admin = tokens.metadata(subject="users/root", roles=("user", "admin"))
    service = tokens.metadata(subject="services/meetings", roles=("service",))
    for who in (admin, service):
        reply = await stub.SubmitTask(critical, metadata=who)
        assert (await wait_final(stub, reply.name, who)).priority == tasks_pb2.PRIORITY_CRITICAL


async def test_a_users_demo_mix_leaves_critical_out(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/p2")
    general = tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE
    request = tasks_pb2.SubmitDemoTasksRequest(count=DEMO_PER_CALL, worker_type=general)
    reply = await stub.SubmitDemoTasks(request, metadata=me)
    tasks = [await wait_final(stub, name, me) for name in reply.names]
    assert tasks_pb2.PRIORITY_CRITICAL not in {t.priority for t in tasks}


async def test_a_dead_letter_cannot_be_retried_at_critical_by_a_user(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/p3")
    reply = await stub.SubmitTask(submit("demo.fail", retryable=False), metadata=me)
    assert (await wait_final(stub, reply.name, me)).state == tasks_pb2.TASK_STATE_DEAD_LETTERED
    retry = tasks_pb2.RetryDeadLetterRequest(name=reply.name.replace("tasks/", "dead-letters/"),
                                     priority=tasks_pb2.PRIORITY_CRITICAL)  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RetryDeadLetter(retry, metadata=me)
    assert refused_fields(err.value) == {"priority"}


async def test_internal_functions_are_not_callable_over_the_api(stub, tokens: TokenFactory):
    """`webhooks.deliver` is queued by the service itself; no caller may submit it, admins and
    services included (PERMISSION_DENIED naming `function_name`)."""
    deliver = submit("webhooks.deliver", webhook="webhooks/x", delivery="webhooks/x/deliveries/y",
                     target_uri="https://example.com/", sealed_secret="x", body="{}")  # fmt: skip
    admin = tokens.metadata(subject="users/root", roles=("user", "admin"))
    for who in (tokens.metadata(subject="users/p4"), admin,
                tokens.metadata(subject="services/meetings", roles=("service",))):  # fmt: skip
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SubmitTask(deliver, metadata=who)
        assert refused_fields(err.value) == {"function_name"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.BatchSubmitTasks(
            tasks_pb2.BatchSubmitTasksRequest(requests=[deliver]), metadata=admin
        )
    assert refused_fields(err.value) == {"requests[0].function_name"}


# A pool without a worker


async def test_a_task_of_a_pool_without_worker_stays_queued_and_says_why(
    stub, tokens: TokenFactory
):
    """Dispatched or not, nobody has taken it: QUEUED (never RUNNING), its last error empty
    but for the condition `NoWorker` naming the pool, and past its dispatch-time bound (1 s
    timeout + 1 s visibility) it is not taken for lost either."""
    me = tokens.metadata(subject="users/w1")
    request = burn()
    request.attempt_timeout.CopyFrom(duration_pb2.Duration(seconds=1))
    name = (await stub.SubmitTask(request, metadata=me)).name
    seen = set()
    for _ in range(30):  # 3 s
        task = (await stub.GetTask(tasks_pb2.GetTaskRequest(name=name), metadata=me)).task
        seen.add(task.state)
        await asyncio.sleep(0.1)
    assert seen == {tasks_pb2.TASK_STATE_QUEUED}
    assert task.last_error.type == "NoWorker"
    assert "CPU_INTENSIVE" in task.last_error.message
    assert task.attempts <= 1
    running = await stub.ListTasks(
        tasks_pb2.ListTasksRequest(state=tasks_pb2.TASK_STATE_RUNNING), metadata=me
    )
    queued = await stub.ListTasks(
        tasks_pb2.ListTasksRequest(state=tasks_pb2.TASK_STATE_QUEUED), metadata=me
    )
    assert (running.tasks, [t.name for t in queued.tasks]) == ([], [name])
    watch = stub.WatchTask(tasks_pb2.WatchTaskRequest(name=name), metadata=me)
    assert (await watch.read()).task.state == tasks_pb2.TASK_STATE_QUEUED
    watch.cancel()

    status = (
        await stub.GetSchedulerStatus(tasks_pb2.GetSchedulerStatusRequest(), metadata=me)
    ).status
    cpu = next(p for p in status.pools if p.worker_type == tasks_pb2.WORKER_TYPE_CPU_INTENSIVE)
    assert (cpu.current_workers, cpu.desired_workers) == (0, 1)  # wants a worker it lacks
    memory = next(
        p for p in status.pools if p.worker_type == tasks_pb2.WORKER_TYPE_MEMORY_INTENSIVE
    )
    assert (memory.current_workers, memory.desired_workers) == (0, 0)  # nothing waits there

    cancelled = await stub.CancelTask(tasks_pb2.CancelTaskRequest(name=name), metadata=me)
    assert cancelled.task.state == tasks_pb2.TASK_STATE_CANCELLED  # at once: no worker has it


async def test_a_task_shows_running_only_once_a_worker_has_it(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/w2")
    reply = await stub.SubmitTask(submit("math.fibonacci", n=20), metadata=me)

    async def seen_running() -> list[tasks_pb2.Task]:
        return [m.task async for m in stub.WatchTask(tasks_pb2.WatchTaskRequest(name=reply.name),
                                                      metadata=me)]  # fmt: skip

    for task in await asyncio.wait_for(seen_running(), WAIT):
        if task.state == tasks_pb2.TASK_STATE_RUNNING:
            assert task.worker
            assert task.HasField("start_time")
        assert task.last_error.type != "NoWorker"  # its pool has a worker
