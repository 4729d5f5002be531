"""The scheduler's operator RPCs: metrics, status, control actions, and the demo load that
shows the scheduler at work. The figures and actions themselves are `control.py`'s."""

from __future__ import annotations

from services.tasks import control
from services.tasks.rpcs.base import BaseRpcs, Context, now
from voka import authn, errors
from voka.tasks.v1 import tasks_pb2


class SchedulerRpcs(BaseRpcs):
    """GetTaskMetrics, GetSchedulerStatus, ControlScheduler and SubmitDemoTasks."""

    async def GetTaskMetrics(
        self, request: tasks_pb2.GetTaskMetricsRequest, context: Context
    ) -> tasks_pb2.GetTaskMetricsResponse:
        figures = await control.task_metrics(self._scheduler, self._store, self._pools, request)
        return tasks_pb2.GetTaskMetricsResponse(metrics=figures)

    async def GetSchedulerStatus(
        self, request: tasks_pb2.GetSchedulerStatusRequest, context: Context
    ) -> tasks_pb2.GetSchedulerStatusResponse:
        status = await control.scheduler_status(self._scheduler, self._leases, self._pools)
        return tasks_pb2.GetSchedulerStatusResponse(status=status)

    async def ControlScheduler(
        self, request: tasks_pb2.ControlSchedulerRequest, context: Context
    ) -> tasks_pb2.ControlSchedulerResponse:
        done = await control.control(self._scheduler, self._leases, self._pools, request)
        status = await control.scheduler_status(self._scheduler, self._leases, self._pools)
        return tasks_pb2.ControlSchedulerResponse(message=done, status=status)

    async def SubmitDemoTasks(
        self, request: tasks_pb2.SubmitDemoTasksRequest, context: Context
    ) -> tasks_pb2.SubmitDemoTasksResponse:
        owner, at = authn.caller().subject, now()
        batch = []
        for index, item in enumerate(control.demo_requests(self._registry, request)):
            new, problems = self._submits.check(item, owner, at, f"demo[{index}].")
            if new is None:  # a demo function whose sample arguments no longer fit its schema
                raise errors.failed_precondition(
                    f"demo task {item.function_name} is refused: {problems[0].description}"
                )
            batch.append(new)
        results = await self._accept(batch)
        return tasks_pb2.SubmitDemoTasksResponse(
            count=len(results), names=[r.name for r, _ in results]
        )
