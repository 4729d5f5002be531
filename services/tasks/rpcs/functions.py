"""The task function RPCs: the registry a task's `function_name` is checked against, listed
with each function's argument schema. The registry is a small in-memory catalogue, so its
pages are offset pages (`voka.pagination`)."""

from __future__ import annotations

from services.tasks import convert
from services.tasks.rpcs.base import BaseRpcs, Context
from voka import errors, pagination
from voka.tasks.v1 import tasks_pb2

PREFIX = "task-functions/"


class TaskFunctionsRpcs(BaseRpcs):
    """ListTaskFunctions and GetTaskFunction."""

    async def ListTaskFunctions(
        self, request: tasks_pb2.ListTaskFunctionsRequest, context: Context
    ) -> tasks_pb2.ListTaskFunctionsResponse:
        functions = [f for f in self._registry.all()
                     if request.worker_type in (0, f.worker_type)]  # fmt: skip
        query = pagination.fingerprint("task-functions", request.worker_type)
        size, problems = pagination.page_size(request.page_size)
        start, bad = pagination.offset_of(request.page_token, query)
        if problems + bad:
            raise errors.invalid_argument(problems + bad)
        page = functions[start : start + size]
        more = start + size < len(functions)
        return tasks_pb2.ListTaskFunctionsResponse(
            task_functions=[convert.task_function(f) for f in page],
            next_page_token=pagination.offset_token(query, start + size) if more else "",
            total_size=len(functions),
        )

    async def GetTaskFunction(
        self, request: tasks_pb2.GetTaskFunctionRequest, context: Context
    ) -> tasks_pb2.GetTaskFunctionResponse:
        function = self._registry.get(request.name.removeprefix(PREFIX))
        if function is None or not request.name.startswith(PREFIX):
            raise errors.not_found("TaskFunction", request.name)
        return tasks_pb2.GetTaskFunctionResponse(task_function=convert.task_function(function))
