"""The task figures every StreamTaskUpdates stream sends, computed once per period for all of
them: a hundred open consoles cost one GetTaskMetrics computation per period, not a hundred."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from voka.tasks.v1 import tasks_pb2

Clock = Callable[[], float]


class SharedFigures:
    """`compute()`'s last answer, reused for `period` seconds; one computation at a time."""

    def __init__(
        self,
        compute: Callable[[], Awaitable[tasks_pb2.TaskMetrics]],
        period: float,
        clock: Clock = time.monotonic,
    ) -> None:
        self._compute = compute
        self._period = period
        self._clock = clock
        self._lock = asyncio.Lock()
        self._figures: tasks_pb2.TaskMetrics | None = None
        self._taken_at = 0.0

    async def now(self) -> tasks_pb2.TaskMetrics:
        async with self._lock:
            if self._figures is None or self._clock() - self._taken_at >= self._period:
                self._figures = await self._compute()
                self._taken_at = self._clock()
            return self._figures


def version(figures: tasks_pb2.TaskMetrics) -> bytes:
    """What tells two takes apart: every figure but the time they were taken."""
    same = tasks_pb2.TaskMetrics()
    same.CopyFrom(figures)
    same.ClearField("compute_time")
    return same.SerializeToString(deterministic=True)
