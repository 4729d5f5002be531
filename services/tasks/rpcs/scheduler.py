"""The scheduler's operator RPCs: metrics, status, control actions, and the demo load that
shows the scheduler at work. The figures and actions themselves are `control.py`'s."""

from __future__ import annotations

from services.tasks import control
from services.tasks.rpcs.base import BaseRpcs, Context, now, trusted
from services.tasks.validation import critical, permission_denied, traceparent
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
        status = await control.scheduler_status(self._scheduler, self._status, self._pools)
        return tasks_pb2.GetSchedulerStatusResponse(status=status)

    async def ControlScheduler(
        self, request: tasks_pb2.ControlSchedulerRequest, context: Context
    ) -> tasks_pb2.ControlSchedulerResponse:
        done = await control.control(self._scheduler, self._leases, self._pools, request)
        status = await control.scheduler_status(self._scheduler, self._status, self._pools)
        return tasks_pb2.ControlSchedulerResponse(message=done, status=status)

    async def SubmitDemoTasks(
        self, request: tasks_pb2.SubmitDemoTasksRequest, context: Context
    ) -> tasks_pb2.SubmitDemoTasksResponse:
        """A user's demo load is bounded twice: per call and by the demo tasks they have not
        seen finish yet (both below the owner quota every submit counts against); its mix of
        priorities leaves CRITICAL to admins and services."""
        caller, allowed = authn.caller(), trusted()
        if request.priority == tasks_pb2.PRIORITY_CRITICAL and not allowed:
            raise permission_denied([critical("priority")])
        settings = self._scheduler.settings
        owner, at, trace = caller.subject, now(), traceparent()
        demos = control.demo_requests(self._registry, request, settings.tasks_demo_max_per_call,
                                      allowed)  # fmt: skip
        if not caller.is_service:
            await self._demo_quota(owner, len(demos), settings.tasks_demo_max_queued_per_owner)
            await self._quota.admit(owner, len(demos))
        batch = []
        for index, item in enumerate(demos):
            new, problems = self._submits.check(item, owner, at, f"demo[{index}].", trace=trace)
            if new is None:  # a demo function whose sample arguments no longer fit its schema
                raise errors.failed_precondition(
                    f"demo task {item.function_name} is refused: {problems[0].description}"
                )
            batch.append(new)
        results = await self._accept(batch)
        return tasks_pb2.SubmitDemoTasksResponse(
            count=len(results), names=[r.name for r, _ in results]
        )

    async def _demo_quota(self, owner: str, count: int, cap: int) -> None:
        if cap <= 0:
            return
        demos = [f.name for f in self._registry.all() if f.demo]
        unfinished = await self._store.unfinished_count(owner, demos)
        if unfinished + count > cap:
            raise errors.quota_exceeded(
                f"{owner} has {unfinished} unfinished demo tasks; at most {cap} may wait at "
                f"once (VOKA_TASKS_DEMO_MAX_QUEUED_PER_OWNER), so {count} more do not fit",
                owner, f"unfinished demo tasks per owner: {cap}",
            )  # fmt: skip
