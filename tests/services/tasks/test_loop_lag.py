"""No tasks RPC holds the event loop longer than 50 ms (issue 16, item 3): the function
catalogue, the scheduler's status and figures, a submit (run by the embedded workers), a list,
a watch to the end, dead letters and the kit's RPCs."""

from __future__ import annotations

from google.protobuf import struct_pb2

from tests.fixtures.tokens import TokenFactory
from tests.services.loop_lag import Phase, assert_loop_free
from voka.server import Running
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc


def _noop() -> tasks_pb2.SubmitTaskRequest:
    return tasks_pb2.SubmitTaskRequest(function_name="demo.noop", args=struct_pb2.Struct())


async def test_no_tasks_rpc_holds_the_event_loop(
    service: Running, stub: tasks_pb2_grpc.TasksServiceStub, tokens: TokenFactory
) -> None:
    me = tokens.metadata(subject="users/loop-lag")
    admin = tokens.metadata(subject="users/loop-lag-admin", roles=("admin",))

    async def watched() -> None:
        reply = await stub.SubmitTask(_noop(), metadata=me)
        async for _ in stub.WatchTask(tasks_pb2.WatchTaskRequest(name=reply.name), metadata=me):
            pass

    phases = [
        Phase("ListTaskFunctions", lambda: stub.ListTaskFunctions(
            tasks_pb2.ListTaskFunctionsRequest(), metadata=me)),
        Phase("GetTaskFunction", lambda: stub.GetTaskFunction(
            tasks_pb2.GetTaskFunctionRequest(name="task-functions/demo.noop"), metadata=me)),
        Phase("GetSchedulerStatus", lambda: stub.GetSchedulerStatus(
            tasks_pb2.GetSchedulerStatusRequest(), metadata=admin)),
        Phase("GetTaskMetrics", lambda: stub.GetTaskMetrics(
            tasks_pb2.GetTaskMetricsRequest(), metadata=admin)),
        Phase("SubmitTask", lambda: stub.SubmitTask(_noop(), metadata=me)),
        Phase("ListTasks", lambda: stub.ListTasks(tasks_pb2.ListTasksRequest(), metadata=me)),
        Phase("SubmitTask then WatchTask", watched, calls=8),
        Phase("ListDeadLetters", lambda: stub.ListDeadLetters(
            tasks_pb2.ListDeadLettersRequest(), metadata=admin)),
    ]  # fmt: skip
    await assert_loop_free("tasks", service.port, admin, phases)
