"""The scheduler: owns shards, keeps their ready queues, hands attempts to worker pools over
NATS JetStream, and applies the workers' reports to the database.

One process owns every shard for now (`shards`); shard leases across replicas come later and
only change which shards `start` rebuilds and which reports it subscribes to. Flow control:
at most `dispatch_window` attempts per worker type are out at once, so the priority order is
decided here, at hand-out time, not by whatever reached JetStream first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.protobuf.message import Message

from services.tasks import convert, metrics
from services.tasks.events import type_token
from services.tasks.policy import retry_delay
from services.tasks.records import AttemptError, DeadLetterReason, TaskRecord, WorkerType
from services.tasks.scheduling import Item, ReadyQueues
from services.tasks.settings import TasksSettings
from services.tasks.store import Store
from voka import wellknown
from voka.bus import Bus, Event, Subscription
from voka.tasks.v1 import events_pb2, tasks_pb2

log = logging.getLogger("voka.tasks.scheduler")
P = events_pb2  # phases


@dataclass
class Running:
    """An attempt handed out and not yet finished."""

    dispatch_id: str
    worker_type: WorkerType
    lost_at: float  # epoch seconds: no outcome by then → WorkerLost
    shard: int = 0


def now_utc() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Ready queues + dispatch loop + report handling for the shards this replica owns."""

    def __init__(self, store: Store, bus: Bus, settings: TasksSettings) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self.shards = list(range(settings.tasks_shards))
        self.queues = ReadyQueues(settings.tasks_aging_seconds)
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        self._running: dict[str, Running] = {}
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._reports: Subscription[events_pb2.TaskAttemptsReportedEvent] | None = None
        self._gauged: set[tuple[str, str, str]] = set()  # queue-depth label sets now non-zero
        self.start_time = now_utc()

    @property
    def settings(self) -> TasksSettings:
        return self._settings

    def running_by_shard(self) -> Counter[int]:
        return Counter(r.shard for r in self._running.values())

    def pause_shard(self, shard: int, paused: bool) -> bool:
        """Pause (or resume) dispatch from one shard; False if it already was so."""
        changed = (shard in self.queues.paused_shards) != paused
        (self.queues.paused_shards.add if paused else self.queues.paused_shards.discard)(shard)
        self._wake.set()
        return changed

    def pause_worker_type(self, worker_type: WorkerType, paused: bool) -> bool:
        """Pause (or resume) dispatch to one worker type; False if it already was so."""
        types = self.queues.paused_types
        changed = (worker_type in types) != paused
        (types.add if paused else types.discard)(worker_type)
        self._wake.set()
        return changed

    async def start(self) -> None:
        """Rebuild the queues of the owned shards from the database, then serve them."""
        for record in await self._store.unfinished(self.shards):
            if record.state == tasks_pb2.TASK_STATE_RUNNING and record.dispatch_id:
                self._track(record, time.time())
            else:
                self.admit([record])
        self._reports = await self._bus.subscribe(
            events_pb2.TaskAttemptsReportedEvent, "tasks-scheduler-reports", self._on_reports,
            suffix=">", backoff=(5.0,), max_deliver=10, batch=64, concurrency=16,
        )  # fmt: skip
        self._loop = asyncio.create_task(self._run(), name="tasks-scheduler")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._reports is not None:
            await self._reports.stop()

    def admit(self, records: Sequence[TaskRecord]) -> None:
        """Queue accepted tasks of owned shards (the database already has them)."""
        now = time.time()
        for record in records:
            if record.final or record.state == tasks_pb2.TASK_STATE_RUNNING:
                continue
            ready = record.next_attempt_time or record.not_before_time or record.create_time
            self.queues.add(Item(record.id, record.shard, record.worker_type, record.priority,
                                 ready.timestamp()), now)  # fmt: skip
        self._wake.set()

    def forget(self, task_id: str) -> None:
        """A cancelled task leaves its queue."""
        self.queues.remove(task_id)

    def in_flight(self) -> Counter[WorkerType]:
        return Counter(r.worker_type for r in self._running.values())

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._settings.tasks_tick_seconds):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self._tick()
            except Exception:
                log.exception("scheduler tick failed; retrying next tick")

    async def _tick(self) -> None:
        now = time.time()
        promoted = self.queues.promote(now)
        if promoted:
            await self._store.mark_queued([i.task_id for i in promoted], now_utc())
        await self._expire_lost(now)
        busy = self.in_flight()
        for worker_type in tasks_pb2.WorkerType.values():
            credit = self._settings.tasks_dispatch_window - busy[worker_type]
            items = self.queues.take(worker_type, now, credit) if credit > 0 else []
            if items:
                await self._dispatch(worker_type, items, now)
        self._gauge(now)

    def _gauge(self, now: float) -> None:
        """Prometheus: queue depths and attempts in flight."""
        self._gauged = metrics.set_depths(self.queues.depths(now), self._gauged)
        busy = self.in_flight()
        for worker_type in tasks_pb2.WorkerType.values():
            if worker_type:
                metrics.RUNNING.labels(metrics.worker_label(worker_type)).set(busy[worker_type])

    async def _dispatch(self, worker_type: WorkerType, items: list[Item], now: float) -> None:
        """Mark the attempts RUNNING (so a crash from here on is covered by the lost-attempt
        sweep), then publish them to the worker type's pool in batches."""
        handouts = [(i.task_id, uuid.uuid4().hex) for i in items]
        records = await self._store.dispatch(handouts, now_utc())
        for record in records:
            self._track(record, now)
        batch = self._settings.tasks_dispatch_batch
        for start in range(0, len(records), batch):
            event = events_pb2.TaskDispatchedEvent(
                worker_type=worker_type,
                dispatches=[self._dispatch_message(r) for r in records[start : start + batch]],
                replica=self.replica,
            )
            await self._bus.publish(event, suffix=type_token(worker_type))

    def _track(self, record: TaskRecord, now: float) -> None:
        assert record.dispatch_id is not None
        lost_at = now + record.attempt_timeout + self._settings.tasks_visibility_seconds
        self._running[record.id] = Running(
            record.dispatch_id, record.worker_type, lost_at, record.shard
        )

    def _dispatch_message(self, record: TaskRecord) -> events_pb2.TaskDispatch:
        message = events_pb2.TaskDispatch(
            task=record.name, attempt=record.attempts, dispatch_id=record.dispatch_id or "",
            shard=record.shard, function_name=record.function_name, priority=record.priority,
            idempotency_key=record.idempotency_key or "", owner=record.owner,
            attempt_timeout=wellknown.duration(record.attempt_timeout),
            visibility_timeout=wellknown.duration(self._settings.tasks_visibility_seconds),
            create_time=wellknown.timestamp(record.create_time),
        )  # fmt: skip
        if record.args is not None:
            message.args.update(record.args)
        if record.deadline_time is not None:
            message.deadline_time.CopyFrom(wellknown.timestamp(record.deadline_time))
        return message

    async def _expire_lost(self, now: float) -> None:
        """Attempts with no outcome long past their timeout: their worker is presumed dead."""
        for task_id, running in list(self._running.items()):
            if running.lost_at <= now:
                error = AttemptError(message="no outcome within the visibility timeout",
                                     type="WorkerLost", retryable=True, attempt=0)  # fmt: skip
                await self._failed(task_id, running.dispatch_id, error)

    async def _on_reports(self, event: Event[events_pb2.TaskAttemptsReportedEvent]) -> None:
        for report in event.message.reports:
            await self._apply(report, event.message.worker)
        self._wake.set()

    async def _apply(self, report: events_pb2.AttemptReport, worker: str) -> None:
        """One report; a stale one (not the task's current attempt) changes nothing."""
        task_id = report.task.removeprefix("tasks/")
        at = report.end_time.ToDatetime(tzinfo=UTC) if report.HasField("end_time") else now_utc()
        if report.phase == P.ATTEMPT_PHASE_STARTED:
            start = report.start_time.ToDatetime(tzinfo=UTC)
            if await self._store.started(task_id, report.dispatch_id, worker, start):
                record = await self.announce(task_id)
                if record is not None:
                    _started_metrics(record, start)
        elif report.phase == P.ATTEMPT_PHASE_SUCCEEDED:
            result = convert.to_python(report.result) if report.HasField("result") else None
            if await self._store.succeeded(task_id, report.dispatch_id, result, at):
                running = self._running.get(task_id)
                if running is not None:  # counted before the event: it may end a wait
                    began = None
                    if report.HasField("start_time"):
                        began = report.start_time.ToDatetime(tzinfo=UTC)
                    metrics.ran(running.worker_type, _seconds(began, at))
                    metrics.finished(metrics.SUCCEEDED, running.worker_type)
                self._finished(task_id)
                await self.announce(task_id)
        elif report.phase in (P.ATTEMPT_PHASE_FAILED, P.ATTEMPT_PHASE_CANCELLED):
            error = _attempt_error(report, worker)
            await self._failed(task_id, report.dispatch_id, error)

    async def _failed(self, task_id: str, dispatch_id: str, error: AttemptError) -> None:
        """Retry with backoff, dead-letter, or end CANCELLED if a cancel was asked."""
        record = await self._store.get(task_id)
        if record is None or record.dispatch_id != dispatch_id:
            return
        error = AttemptError(**{**error.__dict__, "attempt": record.attempts,
                                "time": error.time or now_utc().isoformat()})  # fmt: skip
        changed = await self._outcome(record, dispatch_id, error)
        if changed:
            await self.announce(task_id)

    async def _outcome(self, record: TaskRecord, dispatch_id: str, error: AttemptError) -> bool:
        at = now_utc()
        final = None
        if record.cancel_requested:
            changed = await self._store.cancelled_running(record.id, dispatch_id, error, at)
            final = metrics.CANCELLED
        elif (reason := _dead_letter_reason(record, error, at)) is not None:
            changed = await self._store.dead_lettered(record.id, dispatch_id, error, reason, at)
            final = metrics.DEAD_LETTERED
        else:
            delay = retry_delay(record.attempts, self._settings.tasks_retry_base_seconds,
                                self._settings.tasks_retry_max_seconds)  # fmt: skip
            next_time = at + timedelta(seconds=delay)
            changed = await self._store.retrying(record.id, dispatch_id, error, next_time, at)
            if changed:
                item = Item(record.id, record.shard, record.worker_type, record.priority,
                            next_time.timestamp())  # fmt: skip
                self.queues.add(item, time.time())
        if changed:
            self._finished(record.id)
            metrics.ran(record.worker_type, _seconds(record.start_time, at))
            metrics.failed(record.worker_type)
            if final is not None:
                metrics.finished(final, record.worker_type)
        return changed

    def _finished(self, task_id: str) -> None:
        self._running.pop(task_id, None)
        self._wake.set()

    async def announce(self, task_id: str) -> TaskRecord | None:
        """Publish the task's lifecycle event (WatchTask and other consumers follow these).
        Best effort: the database already holds the change. Returns the task as it is now."""
        record = await self._store.get(task_id)
        if record is None:
            return None
        event = lifecycle_event(record)
        if event is not None:
            try:
                await self._bus.publish(event)
            except Exception:
                log.warning("could not publish the lifecycle event of %s", record.name)
        return record


def _seconds(start: datetime | None, end: datetime) -> float | None:
    return (end - start).total_seconds() if start is not None else None


def _started_metrics(record: TaskRecord, start: datetime) -> None:
    """An attempt started: counters, and the queue latency of a first attempt (from its
    not-before time, or its submit)."""
    waited = None
    if record.attempts == 1:
        waited = _seconds(record.not_before_time or record.create_time, start)
    metrics.started(record.worker_type, record.priority, record.attempts, waited)


def lifecycle_event(record: TaskRecord) -> Message | None:
    """The event for the state the task just reached."""
    s, name = record.state, record.name
    if s == tasks_pb2.TASK_STATE_RUNNING:
        return P.TaskStartedEvent(task=name, function_name=record.function_name,
                                  attempt=record.attempts, worker=record.worker,
                                  worker_type=record.worker_type, shard=record.shard,
                                  owner=record.owner)  # fmt: skip
    if s == tasks_pb2.TASK_STATE_SUCCEEDED:
        return P.TaskSucceededEvent(task=name, function_name=record.function_name,
                                    attempt=record.attempts, worker=record.worker,
                                    owner=record.owner)  # fmt: skip
    error = convert.task_error(record.last_error) if record.last_error else None
    if s == tasks_pb2.TASK_STATE_RETRYING:
        return P.TaskFailedEvent(task=name, function_name=record.function_name,
                                 attempt=record.attempts, owner=record.owner, error=error,
                                 will_retry=True)  # fmt: skip
    if s == tasks_pb2.TASK_STATE_DEAD_LETTERED:
        return P.TaskDeadLetteredEvent(task=name, dead_letter=f"dead-letters/{record.id}",
                                       function_name=record.function_name, owner=record.owner,
                                       reason=record.dead_letter_reason,
                                       attempts=record.attempts, last_error=error)  # fmt: skip
    if s == tasks_pb2.TASK_STATE_CANCELLED:
        return P.TaskCancelledEvent(task=name, function_name=record.function_name,
                                    owner=record.owner,
                                    was_running=record.attempts > 0)  # fmt: skip
    return None


def _dead_letter_reason(
    record: TaskRecord, error: AttemptError, at: datetime
) -> DeadLetterReason | None:
    """Why this failure ends the task, or None when another attempt follows."""
    if error.type == "UnknownFunction":
        return tasks_pb2.DEAD_LETTER_REASON_UNKNOWN_FUNCTION
    if not error.retryable:
        return tasks_pb2.DEAD_LETTER_REASON_NON_RETRYABLE
    if record.deadline_time is not None and record.deadline_time <= at:
        return tasks_pb2.DEAD_LETTER_REASON_DEADLINE_EXCEEDED
    if record.attempts >= record.max_attempts:
        return tasks_pb2.DEAD_LETTER_REASON_MAX_ATTEMPTS
    return None


def _attempt_error(report: events_pb2.AttemptReport, worker: str) -> AttemptError:
    if report.phase == P.ATTEMPT_PHASE_CANCELLED:
        return AttemptError(message="attempt stopped after a cancel", type="Cancelled",
                            retryable=False, attempt=report.attempt, worker=worker)  # fmt: skip
    error = report.error
    return AttemptError(
        message=error.message, type=error.type or "Error", retryable=error.retryable,
        attempt=report.attempt, worker=worker, details=error.details[:8192],
        time=error.time.ToDatetime(tzinfo=UTC).isoformat() if error.HasField("time") else "",
    )  # fmt: skip
