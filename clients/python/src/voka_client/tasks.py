"""Tasks: submit a registered function, watch it to its end, list the caller's tasks."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
from google.protobuf import struct_pb2

from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from voka_client.errors import JobFailedError
from voka_client.pagination import PAGE_SIZE, iter_pages

FINAL_STATES = frozenset(
    {
        tasks_pb2.TASK_STATE_SUCCEEDED,
        tasks_pb2.TASK_STATE_DEAD_LETTERED,
        tasks_pb2.TASK_STATE_CANCELLED,
    }
)


class Tasks:
    """`voka.tasks.v1.TasksService`, through the client's channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = tasks_pb2_grpc.TasksServiceStub(channel)

    def submit(
        self,
        function_name: str,
        args: Mapping[str, Any] | None = None,
        *,
        priority: tasks_pb2.Priority.ValueType = tasks_pb2.PRIORITY_UNSPECIFIED,
        idempotency_key: str = "",
    ) -> tasks_pb2.SubmitTaskResponse:
        """Queues `function_name(**args)`. With an idempotency key a retried submit answers
        the task already queued instead of queueing another."""
        request = tasks_pb2.SubmitTaskRequest(
            function_name=function_name, priority=priority, idempotency_key=idempotency_key
        )
        if args is not None:
            arguments = struct_pb2.Struct()
            arguments.update(dict(args))
            request.args.CopyFrom(arguments)
        return self.stub.SubmitTask(request)

    def get(self, name: str) -> tasks_pb2.Task:
        return self.stub.GetTask(tasks_pb2.GetTaskRequest(name=name)).task

    def watch(self, name: str) -> Iterator[tasks_pb2.Task]:
        """The task now, then at each change; the stream ends after a final state."""
        for change in self.stub.WatchTask(tasks_pb2.WatchTaskRequest(name=name)):
            yield change.task

    def wait(
        self, name: str, on_change: Callable[[tasks_pb2.Task], None] | None = None
    ) -> tasks_pb2.Task:
        """Follows the task to its end (each change to `on_change`) and answers it SUCCEEDED,
        with its result; any other end raises JobFailedError."""
        task = tasks_pb2.Task(name=name)
        for task_now in self.watch(name):
            task = task_now
            if on_change is not None:
                on_change(task)
        if task.state != tasks_pb2.TASK_STATE_SUCCEEDED:
            state = tasks_pb2.TaskState.Name(task.state)
            raise JobFailedError(name, state, task.last_error.message)
        return task

    def iter_tasks(self, function_name: str = "") -> Iterator[tasks_pb2.Task]:
        """The caller's tasks, of one function or all."""

        def page(token: str) -> tuple[list[tasks_pb2.Task], str]:
            request = tasks_pb2.ListTasksRequest(
                page_size=PAGE_SIZE, page_token=token, function_name=function_name
            )
            reply = self.stub.ListTasks(request)
            return list(reply.tasks), reply.next_page_token

        return iter_pages(page)
