"""The frames of one StreamTaskUpdates stream: the caller's page of tasks and the task figures,
each sent now and again whenever it changed, a keepalive comment through quiet spells, and an
end once the tasks stood still for the idle time.

The change feed is the kit's watch loop (`voka.watch`): the "record" followed is the page and
the figures together, re-read when a lifecycle event of one of the caller's tasks arrives from
any replica, and at least once a second, which also picks up new figures (shared, at most one
computation per period: `figures.py`). The loop never ends by itself; the idle end does, judged
after each frame, so it comes at most one heartbeat after the idle time.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from dataclasses import dataclass

from google.protobuf import json_format

from services.tasks.events import LIFECYCLE_SUBJECTS, is_owned_by
from services.tasks.live import figures
from services.tasks.live.figures import SharedFigures
from services.tasks.records import TaskRecord
from services.tasks.settings import TasksSettings
from voka import sse, watch
from voka.bus import Bus
from voka.tasks.v1 import tasks_pb2


@dataclass(frozen=True)
class Snapshot:
    """The page and the figures as read together, with what tells each apart from before."""

    tasks: list[TaskRecord]
    page: Hashable
    figures: tasks_pb2.TaskMetrics
    figures_version: bytes

    def version(self) -> Hashable:
        return self.page, self.figures_version


@dataclass(frozen=True)
class Source:
    """Whose tasks one stream follows and how it reads and shows them."""

    owner: str | None  # None: everyone's (an admin asking for `-`)
    read: Callable[[], Awaitable[list[TaskRecord]]]
    show: Callable[[TaskRecord], tasks_pb2.Task]


@dataclass(frozen=True)
class LiveUpdates:
    """What every stream of a replica shares: the cap per caller, the figures, the timing."""

    cap: sse.StreamCap
    figures: SharedFigures
    heartbeat: float
    idle: float

    @classmethod
    def of(
        cls, settings: TasksSettings, compute: Callable[[], Awaitable[tasks_pb2.TaskMetrics]]
    ) -> LiveUpdates:
        return cls(
            cap=sse.StreamCap(settings.tasks_live_streams_per_caller, "task update streams"),
            figures=SharedFigures(compute, settings.tasks_live_metrics_seconds),
            heartbeat=settings.tasks_live_heartbeat_seconds,
            idle=settings.tasks_live_idle_seconds,
        )


class Feed:
    """One stream's frames (`frames()`), from `source` on `bus`."""

    def __init__(self, bus: Bus, source: Source, live: LiveUpdates) -> None:
        self._bus = bus
        self._source = source
        self._live = live
        self._quiet = sse.Quiet(live.idle)

    def frames(self) -> AsyncGenerator[bytes, None]:
        return sse.live(self._changes(), heartbeat=self._live.heartbeat, quiet=self._quiet)

    async def _changes(self) -> AsyncGenerator[bytes, None]:
        watched: watch.Watched[Snapshot] = watch.Watched(
            read=self._snapshot, version=Snapshot.version, final=lambda _: False
        )
        concerns = functools.partial(is_owned_by, owner=self._source.owner)
        page: Hashable = None
        figures_version = b""
        async for snapshot in watch.changes(self._bus, LIFECYCLE_SUBJECTS, concerns, watched):
            if snapshot.page != page:
                page = snapshot.page
                self._quiet.changed()
                shown = [json_format.MessageToDict(self._source.show(t)) for t in snapshot.tasks]
                yield sse.event({"tasks": shown}, "tasks")
            if snapshot.figures_version != figures_version:
                figures_version = snapshot.figures_version
                yield sse.event(json_format.MessageToDict(snapshot.figures), "metrics")

    async def _snapshot(self) -> Snapshot:
        tasks = await self._source.read()
        taken = await self._live.figures.now()
        page = tuple((t.id, t.shown_state, t.attempts, t.worker) for t in tasks)
        return Snapshot(tasks, page, taken, figures.version(taken))
