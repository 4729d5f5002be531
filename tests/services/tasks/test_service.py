"""TasksService through gRPC in process, with real NATS dispatch to the embedded workers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.conftest import WAIT, wait_final
from voka.tasks.v1 import tasks_pb2


def submit(function: str, **args: object) -> tasks_pb2.SubmitTaskRequest:
    struct = struct_pb2.Struct()
    struct.update(args)
    return tasks_pb2.SubmitTaskRequest(function_name=function, args=struct)


def violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    status = rpc_status.from_call(err)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    return {v.field: v.description for v in bad.field_violations}


async def test_submitted_task_succeeds_with_the_function_result(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/alice")
    reply = await stub.SubmitTask(submit("math.add", a=2, b=3), metadata=me)
    assert reply.state == tasks_pb2.TASK_STATE_QUEUED
    assert not reply.deduplicated
    task = await wait_final(stub, reply.name, me)
    assert task.state == tasks_pb2.TASK_STATE_SUCCEEDED
    assert task.result.number_value == 5
    assert task.attempts == 1
    assert task.owner == "users/alice"
    assert task.worker


async def test_idempotency_key_returns_the_same_task(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/alice")
    request = submit("text.upper", text="hi")
    request.idempotency_key = "once-only"
    first = await stub.SubmitTask(request, metadata=me)
    second = await stub.SubmitTask(request, metadata=me)
    assert second.name == first.name
    assert second.deduplicated
    other = await stub.SubmitTask(request, metadata=tokens.metadata(subject="users/bob"))
    assert other.name != first.name  # keys are per owner
    assert (await wait_final(stub, first.name, me)).result.string_value == "HI"


async def test_cancel_a_waiting_task_then_cancel_again_is_refused(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/alice")
    request = submit("demo.noop")
    later = datetime.now(UTC) + timedelta(hours=1)
    request.not_before_time.CopyFrom(timestamp_pb2.Timestamp(seconds=int(later.timestamp())))
    reply = await stub.SubmitTask(request, metadata=me)
    assert reply.state == tasks_pb2.TASK_STATE_SCHEDULED
    cancelled = await stub.CancelTask(
        tasks_pb2.CancelTaskRequest(name=reply.name, reason="no"), metadata=me
    )
    assert cancelled.task.state == tasks_pb2.TASK_STATE_CANCELLED
    assert cancelled.task.last_error.message == "no"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CancelTask(tasks_pb2.CancelTaskRequest(name=reply.name), metadata=me)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_failing_task_retries_then_dead_letters_and_retry_requeues_it(
    stub, tokens: TokenFactory
):
    me = tokens.metadata(subject="users/carol")
    request = submit("demo.fail", message="boom")
    request.max_attempts = 3
    reply = await stub.SubmitTask(request, metadata=me)
    task = await wait_final(stub, reply.name, me)
    assert task.state == tasks_pb2.TASK_STATE_DEAD_LETTERED
    assert task.attempts == 3
    assert task.last_error.message == "boom"
    assert task.last_error.type == "RuntimeError"
    assert task.last_error.attempt == 3
    assert task.end_time.ToDatetime() - task.create_time.ToDatetime() >= timedelta(
        seconds=0.05 / 2 + 0.1 / 2  # two backoffs, at least half a step each
    )
    dead = f"dead-letters/{reply.name.removeprefix('tasks/')}"
    listed = await stub.ListDeadLetters(tasks_pb2.ListDeadLettersRequest(), metadata=me)
    assert [d.name for d in listed.dead_letters] == [dead]
    assert listed.total_size == 1
    letter = (
        await stub.GetDeadLetter(tasks_pb2.GetDeadLetterRequest(name=dead), metadata=me)
    ).dead_letter
    assert letter.reason == tasks_pb2.DEAD_LETTER_REASON_MAX_ATTEMPTS
    assert letter.last_error.message == "boom"

    retried = await stub.RetryDeadLetter(
        tasks_pb2.RetryDeadLetterRequest(name=dead, max_attempts=1), metadata=me
    )
    assert retried.task.state == tasks_pb2.TASK_STATE_QUEUED
    assert retried.task.attempts == 0
    again = await wait_final(stub, reply.name, me)
    assert again.state == tasks_pb2.TASK_STATE_DEAD_LETTERED
    assert again.attempts == 1
    letter = (
        await stub.GetDeadLetter(tasks_pb2.GetDeadLetterRequest(name=dead), metadata=me)
    ).dead_letter
    assert letter.retry_count == 1


async def test_non_retryable_error_dead_letters_at_once(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/carol")
    reply = await stub.SubmitTask(submit("demo.fail", retryable=False), metadata=me)
    task = await wait_final(stub, reply.name, me)
    assert task.state == tasks_pb2.TASK_STATE_DEAD_LETTERED
    assert task.attempts == 1
    assert not task.last_error.retryable


async def test_unknown_function_and_bad_args_are_field_errors(stub, tokens: TokenFactory):
    me = tokens.metadata()
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitTask(submit("os.system", cmd="rm -rf /"), metadata=me)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(err.value) == {"function_name": "is not a registered task function"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SubmitTask(submit("math.fibonacci", n=1000, extra=1), metadata=me)
    assert set(violations(err.value)) == {"args.n", "args.extra"}
    batch = tasks_pb2.BatchSubmitTasksRequest(requests=[submit("demo.noop"), submit("nope.nope")])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.BatchSubmitTasks(batch, metadata=me)
    assert set(violations(err.value)) == {"requests[1].function_name"}


async def test_batch_submit_queues_every_item(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/dave")
    batch = tasks_pb2.BatchSubmitTasksRequest(
        requests=[submit("math.fibonacci", n=n) for n in range(5)]
    )
    results = (await stub.BatchSubmitTasks(batch, metadata=me)).results
    values = [(await wait_final(stub, r.name, me)).result.number_value for r in results]
    assert values == [0, 1, 1, 2, 3]


async def test_watch_streams_each_state_change(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/erin")
    reply = await stub.SubmitTask(submit("demo.sleep", seconds=0.3), metadata=me)
    seen = [
        m async for m in stub.WatchTask(tasks_pb2.WatchTaskRequest(name=reply.name), metadata=me)
    ]
    assert seen[0].initial
    assert not any(m.initial for m in seen[1:])
    states = [m.task.state for m in seen]
    assert states[-1] == tasks_pb2.TASK_STATE_SUCCEEDED
    assert tasks_pb2.TASK_STATE_RUNNING in states
    assert states == sorted(states)  # QUEUED → RUNNING → SUCCEEDED, in order
    assert seen[-1].task.result.number_value == pytest.approx(0.3)


async def test_callers_see_only_their_own_tasks(stub, tokens: TokenFactory):
    frank, grace = (tokens.metadata(subject=f"users/{u}") for u in ("frank", "grace"))
    reply = await stub.SubmitTask(submit("demo.noop"), metadata=frank)
    for call in (
        stub.GetTask(tasks_pb2.GetTaskRequest(name=reply.name), metadata=grace),
        stub.CancelTask(tasks_pb2.CancelTaskRequest(name=reply.name), metadata=grace),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    theirs = await stub.ListTasks(tasks_pb2.ListTasksRequest(owner="users/frank"), metadata=grace)
    assert theirs.tasks == []  # a non-admin's owner filter is ignored: own tasks only
    admin = tokens.metadata(subject="users/root", roles=("admin",))
    listed = await stub.ListTasks(tasks_pb2.ListTasksRequest(owner="users/frank"), metadata=admin)
    assert [t.name for t in listed.tasks] == [reply.name]


async def test_list_pages_newest_first_with_tokens(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/heidi")
    names = [(await stub.SubmitTask(submit("demo.noop"), metadata=me)).name for _ in range(5)]
    pages, token = [], ""
    while True:
        page = await stub.ListTasks(
            tasks_pb2.ListTasksRequest(page_size=2, page_token=token), metadata=me
        )
        pages.append([t.name for t in page.tasks])
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [n for p in pages for n in p] == names[::-1]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListTasks(
            tasks_pb2.ListTasksRequest(page_token=token or "x", state=tasks_pb2.TASK_STATE_QUEUED),
            metadata=me,
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_function_registry_is_listed_with_schemas(stub, tokens: TokenFactory):
    me = tokens.metadata()
    listed = await stub.ListTaskFunctions(tasks_pb2.ListTaskFunctionsRequest(), metadata=me)
    names = [f.function_name for f in listed.task_functions]
    assert names == sorted(names)
    assert {"math.add", "demo.noop", "demo.sleep", "demo.cpu_burn"} <= set(names)
    one = await stub.GetTaskFunction(
        tasks_pb2.GetTaskFunctionRequest(name="task-functions/math.add"), metadata=me
    )
    assert one.task_function.args_schema["required"] == ["a", "b"]


async def test_retry_all_and_purge_dead_letters_are_for_admins(stub, tokens: TokenFactory):
    me, admin = tokens.metadata(subject="users/erin"), tokens.metadata(roles=("admin",))
    names = []
    for message in ("first", "second"):
        reply = await stub.SubmitTask(submit("demo.fail", message=message, retryable=False),
                                      metadata=me)  # fmt: skip
        assert (await wait_final(stub, reply.name, me)).state == tasks_pb2.TASK_STATE_DEAD_LETTERED
        names.append(reply.name.replace("tasks/", "dead-letters/"))
    first, second = names

    counted = await stub.PurgeDeadLetters(
        tasks_pb2.PurgeDeadLettersRequest(names=[first]), metadata=admin
    )
    assert (counted.purge_count, list(counted.purge_sample)) == (1, [first])
    await stub.GetDeadLetter(tasks_pb2.GetDeadLetterRequest(name=first), metadata=me)  # still there
    purge = tasks_pb2.PurgeDeadLettersRequest(names=[first], force=True)
    assert (await stub.PurgeDeadLetters(purge, metadata=admin)).purge_count == 1
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetDeadLetter(tasks_pb2.GetDeadLetterRequest(name=first), metadata=me)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RetryDeadLetter(tasks_pb2.RetryDeadLetterRequest(name=first), metadata=me)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    task = await stub.GetTask(
        tasks_pb2.GetTaskRequest(name=first.replace("dead-letters/", "tasks/")), metadata=me
    )
    assert task.task.state == tasks_pb2.TASK_STATE_DEAD_LETTERED  # the task itself stays

    retry_all = tasks_pb2.RetryAllDeadLettersRequest(
        function_name="demo.fail", reason=tasks_pb2.DEAD_LETTER_REASON_NON_RETRYABLE
    )
    assert (await stub.RetryAllDeadLetters(retry_all, metadata=admin)).retried_count >= 1
    await wait_final(stub, second.replace("dead-letters/", "tasks/"), me)
    letter = await stub.GetDeadLetter(tasks_pb2.GetDeadLetterRequest(name=second), metadata=me)
    assert letter.dead_letter.retry_count == 1  # ran again, failed again

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.RetryAllDeadLetters(retry_all, metadata=me)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.PurgeDeadLetters(
            tasks_pb2.PurgeDeadLettersRequest(names=["tasks/x"]), metadata=admin
        )
    assert violations(err.value) == {"names[0]": "must be dead-letters/{id}"}


async def test_cancel_stops_a_running_async_attempt(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/fay")
    reply = await stub.SubmitTask(submit("demo.sleep", seconds=30), metadata=me)

    async def running() -> tasks_pb2.Task:
        while True:
            task = (await stub.GetTask(tasks_pb2.GetTaskRequest(name=reply.name), metadata=me)).task
            if task.state == tasks_pb2.TASK_STATE_RUNNING and task.worker:
                return task
            await asyncio.sleep(0.02)

    await asyncio.wait_for(running(), WAIT)
    cancel = await stub.CancelTask(
        tasks_pb2.CancelTaskRequest(name=reply.name, reason="enough"), metadata=me
    )
    assert (cancel.task.state, cancel.task.cancel_requested) == (tasks_pb2.TASK_STATE_RUNNING, True)
    task = await wait_final(stub, reply.name, me)  # well before the 30 s sleep ends
    assert task.state == tasks_pb2.TASK_STATE_CANCELLED
    assert task.last_error.type == "Cancelled"
