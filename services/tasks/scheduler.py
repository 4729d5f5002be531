"""The scheduler: owns shards, keeps their ready queues, hands attempts to worker pools over
NATS JetStream, and applies the workers' reports to the database.

A replica serves the shards it holds (`acquire` rebuilds a shard's queues from the database and
starts consuming its reports, `release` forgets it); which shards those are is decided by the
leases (`lease_store.py`, `ownership.py`), or, for a single replica, all of them. The order
within them is the aging rule of `ready_queues.py`. Flow control: at most a window of attempts
per worker type is out at once (`window.py`: it follows the pool's pace), so the priority
order is decided here, at hand-out time, not by whatever reached JetStream first.

The hot path is batched end to end: one UPDATE hands out a batch, its attempts travel in a few
messages published together, and the reports of many attempts are applied in one transaction
(`GroupCommit`); lifecycle events are hints, emitted without waiting for JetStream's ack.
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from google.protobuf import timestamp_pb2
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg

from services.tasks import convert, metrics
from services.tasks.batching import ROUND_LINGER, GroupCommit
from services.tasks.changes import Accepted, Attempt, Handout, Progress
from services.tasks.events import type_token
from services.tasks.lease_store import Fence
from services.tasks.lifecycle import (
    attempt_error,
    dead_letter_reason,
    lifecycle_event,
    started_event,
    submitted_event,
    succeeded_event,
)
from services.tasks.policy import Placement, retry_delay
from services.tasks.ready_queues import Item, ReadyQueues
from services.tasks.records import AttemptError, TaskRecord, WorkerType
from services.tasks.settings import TasksSettings
from services.tasks.store import TaskStore
from services.tasks.window import DispatchWindow
from voka import wellknown
from voka.bus import Bus, Event, Listener, Subscription, subject_of
from voka.tasks.v1 import events_pb2, tasks_pb2

log = logging.getLogger("voka.tasks.scheduler")
REPORT_BATCH = 2000  # reports applied in one transaction, at most
RESYNC_MARGIN = 5.0  # seconds a resync looks back beyond the previous one (clock skew)
HANDOUTS_KEPT = 100_000  # queued tasks whose hand-out is kept in memory, at most


@dataclass
class Running:
    """An attempt handed out and not yet finished."""

    task: Handout
    lost_at: float  # epoch seconds: no outcome by then → WorkerLost
    started: bool = False  # its start was counted (a STARTED report, or the database knew it)
    seen: bool = False  # a worker's heartbeat listed it (its start is being recorded)

    @property
    def dispatch_id(self) -> str:
        return self.task.dispatch_id

    @property
    def worker_type(self) -> WorkerType:
        return self.task.worker_type

    @property
    def shard(self) -> int:
        return self.task.shard


Dispatched = events_pb2.TaskDispatchedEvent


def now_utc() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    """Ready queues + dispatch loop + report handling for the shards this replica holds."""

    def __init__(
        self, store: TaskStore, bus: Bus, settings: TasksSettings, replica: str | None = None
    ) -> None:
        self._store = store
        self._bus = bus
        self._settings = settings
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}"
        self.queues = ReadyQueues(settings.tasks_aging_seconds)
        self._owned: dict[int, Subscription[events_pb2.TaskAttemptsReportedEvent]] = {}
        self.epochs: dict[int, int] = {}  # shard → the epoch of this replica's lease
        self._hints: Listener | None = None
        self._synced = now_utc()
        self._running: dict[str, Running] = {}
        self._unsent: list[tuple[Dispatched, str]] = []  # dispatch messages, with their suffix
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._progress: GroupCommit[Progress, None] = GroupCommit(
            self._apply_progress, REPORT_BATCH, linger=ROUND_LINGER
        )
        self._gauged: set[tuple[str, str, str]] = set()  # queue-depth label sets now non-zero
        self._gauged_at = 0.0
        self.window = DispatchWindow(
            settings.tasks_dispatch_window,
            max(settings.tasks_dispatch_window, settings.tasks_dispatch_window_max),
            settings.tasks_dispatch_horizon_seconds, period=settings.tasks_tick_seconds,
        )  # fmt: skip
        self._visibility = wellknown.duration(settings.tasks_visibility_seconds)
        self.start_time = now_utc()
        # Whether a pool has a live worker (the heartbeats', `pools.py`); until told, all do.
        self.staffed: Callable[[WorkerType], bool] = lambda worker_type: True
        self._recording: set[asyncio.Future[list[None]]] = set()
        self.placement = Placement(settings.tasks_shards, self._open_shards)

    @property
    def settings(self) -> TasksSettings:
        return self._settings

    @property
    def shards(self) -> list[int]:
        """The shards this replica serves now."""
        return sorted(self._owned)

    def _open_shards(self) -> list[int]:
        """Where keyless tasks taken in here go: the shards served here and not paused."""
        return [shard for shard in self.shards if shard not in self.queues.paused_shards]

    def running_by_shard(self) -> Counter[int]:
        return Counter(r.shard for r in self._running.values())

    def apply_pauses(self, shards: set[int], worker_types: set[int]) -> None:
        """Stop (or resume) dispatching exactly these shards and worker types (the pauses
        stored in the database, read every lease round and after each ControlScheduler)."""
        self.queues.paused_shards = set(shards)
        self.queues.paused_types = set(worker_types)
        self._wake.set()

    def fence(self) -> Fence:
        return Fence(self.replica, dict(self.epochs), now_utc())

    async def start(self) -> None:
        """Run the dispatch loop and listen for tasks other replicas accepted for our shards
        (shards themselves come and go through `acquire` and `release`)."""
        self._hints = await self._bus.listen(
            subject_of(events_pb2.TaskSubmittedEvent), self._on_submitted
        )
        self._loop = asyncio.create_task(self._run(), name="tasks-scheduler")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._hints is not None:
            await self._hints.stop()
        for shard in list(self._owned):
            await self.release(shard)
        await self._progress.close()

    async def acquire(self, shard: int, epoch: int) -> None:
        """Serve a shard leased at `epoch`: rebuild its queues and running attempts from the
        database, then consume its reports (the durable consumer is the shard's, whoever
        serves it, so reports a previous owner left unacked come here)."""
        self.epochs[shard] = epoch
        if shard in self._owned:
            return
        now = time.time()
        for record in await self._store.unfinished([shard]):
            if record.state == tasks_pb2.TASK_STATE_RUNNING and record.dispatch_id:
                self._track(Handout.of(record), now).started = record.start_time is not None
            else:
                self._queue(record, now)
        self._owned[shard] = await self._bus.subscribe(
            events_pb2.TaskAttemptsReportedEvent, f"tasks-reports-{shard}", self._on_reports,
            suffix=str(shard), backoff=(5.0,), max_deliver=10, batch=64, concurrency=32,
            confirm_acks=False,  # a report applied twice changes nothing the second time
        )  # fmt: skip
        self._wake.set()

    async def release(self, shard: int) -> None:
        """Stop serving a shard: its reports go to the next owner, its queues are dropped."""
        self.epochs.pop(shard, None)
        subscription = self._owned.pop(shard, None)
        if subscription is not None:
            await subscription.stop(grace=1.0)
        self.queues.drop_shard(shard)
        for task_id in [t for t, r in self._running.items() if r.shard == shard]:
            del self._running[task_id]

    async def admit(self, records: Sequence[Accepted]) -> None:
        """Queue accepted tasks of the shards served here; for the others, tell their owner
        (a TaskSubmittedEvent, a hint: `resync` finds a task whose hint was lost)."""
        now = time.time()
        hints = []
        for record in records:
            if record.final:
                continue
            if record.shard in self._owned:
                self._queue(record, now)
            else:
                hints.append(submitted_event(record))
        self._wake.set()
        await self._emit_many(hints)

    async def _on_submitted(self, msg: Msg) -> None:
        """Another replica accepted a task of a shard served here."""
        with contextlib.suppress(DecodeError):
            event = events_pb2.TaskSubmittedEvent.FromString(msg.data)
            if event.shard in self._owned:
                ready = event.not_before_time if event.HasField("not_before_time") else None
                at = (ready or event.create_time).ToDatetime(tzinfo=UTC).timestamp()
                item = Item(event.task.removeprefix("tasks/"), event.shard, event.worker_type,
                            event.priority, at, owner=event.owner)  # fmt: skip
                if item.task_id not in self.queues:
                    self.queues.add(item, time.time())
                    self._wake.set()

    async def resync(self) -> None:
        """Queue waiting tasks of served shards changed since the last resync and not queued
        here (accepted by another replica whose hint got lost, requeued dead letters)."""
        since, self._synced = self._synced - timedelta(seconds=RESYNC_MARGIN), now_utc()
        known = self.queues.__contains__
        missing = [t for t in await self._store.waiting(self.shards, since)
                   if not known(t) and t not in self._running]  # fmt: skip
        now = time.time()
        for record in await self._store.many(missing) if missing else []:
            if record.shard in self._owned:
                self._queue(record, now)
                self._wake.set()

    def _queue(self, record: Accepted, now: float) -> None:
        if record.state == tasks_pb2.TASK_STATE_RUNNING:
            return
        self.queues.add(self._item(record, record.ready_time), now)

    def _item(self, record: Accepted, ready: datetime) -> Item:
        """The task as queued here, with its hand-out while the queues are not too long to
        keep them all in memory (beyond that, a hand-out reads the task back)."""
        handout = Handout.of(record) if len(self.queues) < HANDOUTS_KEPT else None
        return Item(record.id, record.shard, record.worker_type, record.priority,
                    ready.timestamp(), handout, record.owner)  # fmt: skip

    def forget(self, task_id: str) -> None:
        """A cancelled task leaves its queue."""
        self.queues.remove(task_id)

    async def cancel(self, task_id: str, reason: str) -> None:
        """Cancel a task not yet final (CancelTask, account erasure): a waiting one ends
        CANCELLED now and leaves its queue; a running one ends now if no worker took it, or its
        worker is asked to stop (it ends CANCELLED on the worker's report, or the lost-attempt
        sweep's)."""
        await self._store.cancel(task_id, reason, now_utc())
        after = await self._store.get(task_id)
        if after is None:
            return
        if after.state == tasks_pb2.TASK_STATE_CANCELLED:
            self.forget(task_id)
            await self._emit(lifecycle_event(after))
            metrics.finished(metrics.CANCELLED, after.worker_type)
        elif after.cancel_requested and after.dispatch_id and after.start_time is None:
            await self.cancel_untaken(task_id)  # no worker has it: it ends now
        elif after.cancel_requested and after.dispatch_id:  # running: ask its worker to stop
            await self._bus.emit(events_pb2.TaskCancellationRequestedEvent(
                task=after.name, attempt=after.attempts, dispatch_id=after.dispatch_id,
                worker=after.worker,
            ))  # fmt: skip

    async def cancel_untaken(self, task_id: str) -> None:
        """A cancel was asked for a task handed out that no worker has started (callers see
        it QUEUED): its attempt ends now, CANCELLED, instead of whenever a worker takes it.
        Should a worker take it after all, its reports match nothing."""
        running = self._running.get(task_id)
        if running is not None and not running.started:
            error = AttemptError(message="cancelled before a worker took it", type="Cancelled",
                                 retryable=False, attempt=0)  # fmt: skip
            await self._failed(task_id, running.dispatch_id, error)

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
            await self._store.mark_queued([i.task_id for i in promoted], now_utc(), self.fence())
        await self._expire_lost(now)
        await self._republish()
        busy = self.in_flight()
        self.window.update()
        handouts = []
        for worker_type in tasks_pb2.WorkerType.values():
            window = self.window.size(worker_type)
            credit = window - busy[worker_type]
            ready = self.queues.ready_count(worker_type)
            # A deep queue goes out in large batches, once half the window is free (one
            # statement, and full messages of few shards each: the fuller they are, the
            # fewer messages carry the reports back); a shallow one at once.
            refill = max(self._settings.tasks_dispatch_batch, window // 2)
            if ready and credit >= min(ready, refill):
                items = self.queues.take(worker_type, now, credit)
                if items:
                    handouts.append(self._dispatch(worker_type, items, now))
        await asyncio.gather(*handouts)
        if now >= self._gauged_at + self._settings.tasks_tick_seconds:  # not every wake-up
            self._gauged_at = now
            self._gauge(now)

    def _gauge(self, now: float) -> None:
        """Prometheus: queue depths and attempts in flight."""
        self._gauged = metrics.set_depths(self.queues.depths(now), self._gauged)
        busy = self.in_flight()
        for worker_type in tasks_pb2.WorkerType.values():
            if worker_type:
                metrics.RUNNING.labels(metrics.worker_label(worker_type)).set(busy[worker_type])

    async def _dispatch(self, worker_type: WorkerType, items: list[Item], now: float) -> None:
        """Mark the attempts RUNNING in one statement (so a crash from here on is covered by
        the lost-attempt sweep), then publish them to the worker type's pool, several
        messages at once."""
        records = await self._store.dispatch(items, uuid.uuid4().hex, now_utc(), self.fence())
        for record in records:
            self._track(record, now)
        size = self._settings.tasks_dispatch_batch
        # Grouped by shard (in the order of each shard's best task), so a message holds as
        # few shards as it can (a worker reports per shard), and full: a small round (unary
        # submits trickling in) goes out as one message, not one per shard it touches.
        first: dict[int, int] = {}
        for record in records:
            first.setdefault(record.shard, len(first))
        records.sort(key=lambda record: first[record.shard])
        messages = [
            events_pb2.TaskDispatchedEvent(
                worker_type=worker_type,
                replica=self.replica,
                dispatches=[self._dispatch_message(r) for r in records[start : start + size]],
            )
            for start in range(0, len(records), size)
        ]
        suffix = type_token(worker_type)
        await self._publish_dispatches([(m, suffix) for m in messages])

    async def _publish_dispatches(self, messages: list[tuple[Dispatched, str]]) -> None:
        """Publish dispatch messages together; one JetStream did not take (its stream's
        leader moving, NATS unreachable) waits in `_unsent` for the next tick. Its attempts
        were marked RUNNING already, and no worker has them: without this they would wait
        for their timeout before anything retried them."""
        sent = await asyncio.gather(
            *(self._bus.publish(m, suffix=suffix) for m, suffix in messages),
            return_exceptions=True,
        )
        for (message, suffix), outcome in zip(messages, sent, strict=True):
            if isinstance(outcome, Exception):
                log.warning("dispatch of %d attempts not published, will retry: %s",
                            len(message.dispatches), outcome)  # fmt: skip
                self._unsent.append((message, suffix))

    async def _republish(self) -> None:
        """The dispatches JetStream did not take, sent again with the same dispatch ids (a
        retry of a publish is no new attempt), less the attempts that ended meanwhile. One
        JetStream stored after all, its ack lost, reaches a worker twice: the second run's
        report finds the attempt already ended."""
        if not self._unsent:
            return
        unsent, self._unsent = self._unsent, []
        for message, _ in unsent:
            current = [d for d in message.dispatches if self._current(d)]
            del message.dispatches[:]
            message.dispatches.extend(current)
        await self._publish_dispatches([(m, suffix) for m, suffix in unsent if m.dispatches])

    def _current(self, dispatch: events_pb2.TaskDispatch) -> bool:
        running = self._running.get(dispatch.task.removeprefix("tasks/"))
        return running is not None and running.dispatch_id == dispatch.dispatch_id

    def _track(self, task: Handout, now: float) -> Running:
        lost_at = now + task.attempt_timeout + self._settings.tasks_visibility_seconds
        running = self._running[task.id] = Running(task, lost_at)
        return running

    def extend(
        self, attempts: Iterable[events_pb2.InFlightAttempt], seconds: float, worker: str = ""
    ) -> None:
        """A worker's heartbeat lists these attempts as running: each is lost only if no
        other beat lists it within `seconds` (this replaces the dispatch-time bound, so a dead
        worker's attempt is retried that long after its last beat, not after its timeout).
        One whose start is not known yet is recorded as taken by `worker`, as its STARTED
        report would."""
        lost_at = time.time() + seconds
        taken = []
        for attempt in attempts:
            running = self._running.get(attempt.task.removeprefix("tasks/"))
            if running is not None and running.dispatch_id == attempt.dispatch_id:
                running.lost_at = lost_at
                if not (running.started or running.seen):
                    running.seen = True
                    start = _time(attempt.start_time) or now_utc()
                    taken.append(Progress(running.task.id, running.dispatch_id, running.shard,
                                          worker, start, started=False))  # fmt: skip
        if taken:  # the worker has them: they show RUNNING, whether STARTED came or not
            recording = asyncio.ensure_future(self._progress.submit(taken))
            self._recording.add(recording)
            recording.add_done_callback(self._recorded)

    def _recorded(self, recording: asyncio.Future[list[None]]) -> None:
        self._recording.discard(recording)
        if not recording.cancelled() and recording.exception() is not None:
            log.warning("could not record attempts a heartbeat listed: %s",
                        recording.exception())  # fmt: skip

    def _dispatch_message(self, record: Handout) -> events_pb2.TaskDispatch:
        message = events_pb2.TaskDispatch(
            task=record.name, attempt=record.attempts, dispatch_id=record.dispatch_id,
            shard=record.shard, shard_epoch=self.epochs.get(record.shard, 0),
            function_name=record.function_name, priority=record.priority,
            idempotency_key=record.idempotency_key or "", owner=record.owner,
            attempt_timeout=wellknown.duration(record.attempt_timeout),
            visibility_timeout=self._visibility,
            create_time=wellknown.timestamp(record.create_time),
            traceparent=record.traceparent or "",
        )  # fmt: skip
        if record.args is not None:
            message.args_json = record.args
        if record.deadline_time is not None:
            message.deadline_time.CopyFrom(wellknown.timestamp(record.deadline_time))
        return message

    async def _expire_lost(self, now: float) -> None:
        """Attempts with no outcome long past their timeout: their worker is presumed dead.
        Not one that no worker has taken while its pool has no worker: it waits in JetStream,
        not lost, for the first worker of the pool (retrying it would only queue it twice),
        unless a cancel was asked for it meanwhile."""
        due = [(task_id, r) for task_id, r in self._running.items() if r.lost_at <= now]
        waiting = {task_id for task_id, r in due
                   if not r.started and not self.staffed(r.worker_type)}  # fmt: skip
        if waiting:
            waiting -= {r.id for r in await self._store.many(list(waiting)) if r.cancel_requested}
        for task_id, running in due:
            if task_id in waiting:
                running.lost_at = now + self._settings.tasks_visibility_seconds
                continue
            error = AttemptError(message="no outcome within the visibility timeout",
                                 type="WorkerLost", retryable=True, attempt=0)  # fmt: skip
            await self._failed(task_id, running.dispatch_id, error)

    async def _on_reports(self, event: Event[events_pb2.TaskAttemptsReportedEvent]) -> None:
        """STARTED and SUCCEEDED reports join the next group commit; failures are judged one
        by one (rare, and each needs the task's attempts and deadline). Reports of a shard
        no longer served here are refused, so JetStream hands them to its new owner."""
        if event.message.shard not in self._owned:
            raise NotServedError(f"shard {event.message.shard} is not served here")
        worker, shard, reports = event.message.worker, event.message.shard, event.message.reports
        progress, failures = [], []
        for report in reports:
            if report.phase in (
                events_pb2.ATTEMPT_PHASE_SUCCEEDED,
                events_pb2.ATTEMPT_PHASE_STARTED,
            ):
                progress.append(_progress(report, worker, shard))
            elif report.phase in (
                events_pb2.ATTEMPT_PHASE_FAILED,
                events_pb2.ATTEMPT_PHASE_CANCELLED,
            ):
                failures.append(report)
        if progress:
            await self._progress.submit(progress)
        for report in failures:
            task_id = report.task.removeprefix("tasks/")
            await self._failed(task_id, report.dispatch_id, attempt_error(report, worker))

    async def _apply_progress(self, batch: list[Progress]) -> None:
        """One transaction for the batch, then metrics and events for what it changed (from
        what this replica knows of each running attempt: nothing is read back)."""
        folded: dict[tuple[str, str], Progress] = {}
        for report in batch:
            _fold(folded, report)
        batch = list(folded.values())
        changed = await self._store.progress(batch, now_utc(), self.fence())
        tally = metrics.Tally()
        events: list[Message] = []
        for report in batch:
            state = changed.get(report.task_id)
            running = self._running.get(report.task_id)
            if state is None or running is None or running.dispatch_id != report.dispatch_id:
                continue
            task = running.task
            if not running.started:  # counted once; announced if running
                running.started = True
                _started_metrics(tally, task, report.start_time)
                if state == tasks_pb2.TASK_STATE_RUNNING:
                    events.append(started_event(task, report.worker, report.start_time))
            if report.succeeded and state == tasks_pb2.TASK_STATE_SUCCEEDED:
                tally.ran(task.worker_type, _seconds(report.start_time, report.end_time))
                tally.finished(metrics.SUCCEEDED, task.worker_type)
                self._finished(task.id)
                events.append(succeeded_event(task, report))
        tally.record()
        await self._emit_many(events)

    async def _failed(self, task_id: str, dispatch_id: str, error: AttemptError) -> None:
        """Retry with backoff, dead-letter, or end CANCELLED if a cancel was asked."""
        record = await self._store.get(task_id)
        if record is None or record.dispatch_id != dispatch_id:
            return
        if record.state != tasks_pb2.TASK_STATE_RUNNING:  # its outcome came another way
            self._finished(task_id)
            return
        error = AttemptError(**{**error.__dict__, "attempt": record.attempts,
                                "time": error.time or now_utc().isoformat()})  # fmt: skip
        changed = await self._outcome(record, dispatch_id, error)
        if changed:
            await self.announce(task_id)

    async def _outcome(self, record: TaskRecord, dispatch_id: str, error: AttemptError) -> bool:
        at = now_utc()
        final = None
        current = Attempt(record.id, dispatch_id, self.fence())
        if record.cancel_requested:
            changed = await self._store.cancelled_running(current, error, at)
            final = metrics.CANCELLED
        elif (reason := dead_letter_reason(record, error, at)) is not None:
            changed = await self._store.dead_lettered(current, error, reason, at)
            final = metrics.DEAD_LETTERED
        else:
            delay = retry_delay(record.attempts, self._settings.tasks_retry_base_seconds,
                                self._settings.tasks_retry_max_seconds)  # fmt: skip
            next_time = at + timedelta(seconds=delay)
            changed = await self._store.retrying(current, error, next_time, at)
            if changed and record.shard in self._owned:
                self.queues.add(self._item(record, next_time), time.time())
        if changed:
            self._finished(record.id)
            metrics.ran(record.worker_type, _seconds(record.start_time, at))
            metrics.failed(record.worker_type)
            if final is not None:
                metrics.finished(final, record.worker_type)
        return changed

    def _finished(self, task_id: str) -> None:
        running = self._running.pop(task_id, None)
        if running is not None:
            self.window.finished(running.worker_type)
        self._wake.set()

    async def announce(self, task_id: str) -> TaskRecord | None:
        """Emit the task's lifecycle event for the state it is in now; returns the task."""
        record = await self._store.get(task_id)
        if record is not None:
            await self._emit(lifecycle_event(record))
        return record

    async def _emit(self, event: Message | None) -> None:
        """Best effort: the database already holds the change, and watchers re-read it."""
        if event is not None:
            await self._emit_many([event])

    async def _emit_many(self, events: Sequence[Message]) -> None:
        """`_emit` for a batch of events: one write to NATS for all of them."""
        if not events:
            return
        try:
            await self._bus.emit_many(events)
        except Exception:
            log.warning("could not emit %d events (%s)", len(events), events[0].DESCRIPTOR.name)


class NotServedError(Exception):
    """A report for a shard this replica does not serve (any more)."""


def _progress(report: events_pb2.AttemptReport, worker: str, shard: int) -> Progress:
    """A STARTED or SUCCEEDED report (a success's start is counted with it unless a STARTED
    report counted it before)."""
    return Progress(
        task_id=report.task.removeprefix("tasks/"), dispatch_id=report.dispatch_id,
        shard=shard, worker=worker, start_time=_time(report.start_time) or now_utc(),
        succeeded=report.phase == events_pb2.ATTEMPT_PHASE_SUCCEEDED,
        started=report.phase == events_pb2.ATTEMPT_PHASE_STARTED,
        end_time=_time(report.end_time),
        result=convert.to_python(report.result) if report.HasField("result") else None,
    )  # fmt: skip


def _fold(into: dict[tuple[str, str], Progress], report: Progress) -> None:
    """One row per attempt: a success absorbs the STARTED of the same attempt (in either
    order), so the two cost one UPDATE."""
    key = (report.task_id, report.dispatch_id)
    known = into.get(key)
    if known is None:
        into[key] = report
    elif known.succeeded != report.succeeded:
        success = known if known.succeeded else report
        into[key] = replace(success, started=True)


def _time(stamp: timestamp_pb2.Timestamp) -> datetime | None:
    """Set or not (protobuf's `ToDatetime` costs half again as much)."""
    if not (stamp.seconds or stamp.nanos):
        return None
    return wellknown.EPOCH + timedelta(seconds=stamp.seconds, microseconds=stamp.nanos // 1000)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def _started_metrics(tally: metrics.Tally, record: Handout, start: datetime) -> None:
    """An attempt started: counters, and the queue latency of a first attempt (from its
    not-before time, or its submit)."""
    waited = None
    if record.attempts == 1:
        waited = _seconds(record.not_before_time or record.create_time, start)
    tally.started(record.worker_type, record.priority, record.attempts, waited)
