"""A worker: pulls attempts of its worker types from JetStream, runs the registered function,
reports the outcome to the shard's owner.

`python -m services.tasks.worker --type GENERAL_PURPOSE [--type IO_INTENSIVE] [--concurrency 8]`

Async functions run on the event loop; sync ones of CPU_INTENSIVE and MEMORY_INTENSIVE in a
process pool (one attempt per core), the others in threads. The dispatch message is acked only
after the reports are stored, so a worker killed mid-attempt loses nothing: JetStream hands the
attempt to another worker once its ack deadline passes, and the scheduler keeps the first
outcome it gets for the attempt's `dispatch_id`. While an attempt runs, its dispatch gets
in-progress acks (the bus's keep-alive) and the worker's heartbeats list it (`heartbeats.py`),
so neither JetStream nor the scheduler takes a live worker's long attempt for lost. SIGTERM
drains: no more pulls, running attempts finish and report, then the process exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import logging
import multiprocessing
import os
import signal
import socket
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import DecodeError
from nats.aio.msg import Msg
from opentelemetry.trace import Span, SpanKind, StatusCode

from services.tasks import convert, peers
from services.tasks.batching import Outbox
from services.tasks.events import parse_worker_type, type_token
from services.tasks.heartbeats import BusyMeter, Heartbeat, Identity, status_event
from services.tasks.records import WorkerType
from services.tasks.registry import NonRetryableError, Registry, TaskFunction, default_registry
from services.tasks.settings import TasksSettings
from voka import event_loop, telemetry
from voka.bus import Bus, Event, Listener, Subscription, subject_of
from voka.tasks.v1 import events_pb2, tasks_pb2

log = logging.getLogger("voka.tasks.worker")
PROCESS_TYPES = frozenset({tasks_pb2.WORKER_TYPE_CPU_INTENSIVE,
                           tasks_pb2.WORKER_TYPE_MEMORY_INTENSIVE})  # fmt: skip
STARTED_DELAY = 0.05  # a success sooner than this reports only its outcome (it has its start)
DETAILS_LIMIT = 8192
REPORT_LINGER = 0.002  # seconds a round of reports waits for more (fewer, fuller messages)


class Worker:
    """One worker process's pools, one JetStream consumer group per worker type."""

    def __init__(
        self,
        bus: Bus,
        registry: Registry,
        worker_types: Sequence[tasks_pb2.WorkerType.ValueType],
        concurrency: int = 8,
        ack_wait: float = 30.0,
    ) -> None:
        self._bus = bus
        self._registry = registry
        self._types = list(worker_types)
        self._ack_wait = ack_wait
        self._slots = asyncio.Semaphore(concurrency)
        self._concurrency = concurrency
        self._processes: Executor | None = None
        self._subscriptions: list[Subscription[events_pb2.TaskDispatchedEvent]] = []
        self._reports: Outbox[tuple[int, events_pb2.AttemptReport]] = Outbox(self._publish_reports)
        self._running: dict[tuple[str, str], _Attempt] = {}
        self._cancels: Listener | None = None
        self._announcer: asyncio.Task[None] | None = None
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        self._identity = Identity(self.name, socket.gethostname(), os.getpid(), concurrency,
                                  datetime.now(UTC))  # fmt: skip
        self._meter = BusyMeter()
        self._heartbeat = Heartbeat(bus, self.status, self._types, ack_wait / 3)
        self.draining = False

    async def start(self) -> None:
        self._announcer = asyncio.create_task(self._announce_started(), name="tasks-started")
        self._cancels = await self._bus.listen(
            subject_of(events_pb2.TaskCancellationRequestedEvent), self._on_cancel
        )
        for worker_type in self._types:
            token = type_token(worker_type)
            subscription = await self._bus.subscribe(
                events_pb2.TaskDispatchedEvent, f"tasks-workers-{token}", self._on_dispatch,
                suffix=token, backoff=(self._ack_wait,), max_deliver=5,
                concurrency=self._concurrency, batch=self._concurrency, handler_timeout=None,
                confirm_acks=False,  # a lost ack: the attempt comes again (at least once)
            )  # fmt: skip
            self._subscriptions.append(subscription)
        self._heartbeat.start()

    def status(self, worker_type: WorkerType) -> events_pb2.WorkerStatusReportedEvent:
        """This worker's heartbeat for one of its types (`heartbeats.py`)."""
        running = [a.in_flight() for a in self._running.values() if a.worker_type == worker_type]
        return status_event(self._identity, worker_type, running, self._meter, self.draining)

    async def stop(self, grace: float = 10.0) -> None:
        """Drain: stop pulling, let running attempts finish and report within `grace`
        (beating meanwhile, so they are not declared lost), then go."""
        self.draining = True
        await self._heartbeat.beat()
        await asyncio.gather(*(s.stop(grace) for s in self._subscriptions))
        await self._heartbeat.stop()
        if self._cancels is not None:
            await self._cancels.stop()
        if self._announcer is not None:
            self._announcer.cancel()
        await self._reports.close()
        if self._processes is not None:
            self._processes.shutdown(wait=False, cancel_futures=True)

    async def _on_dispatch(self, event: Event[events_pb2.TaskDispatchedEvent]) -> None:
        """Start each attempt as a slot frees up, then wait until their reports are stored
        (the bus acks the dispatch message after this returns)."""
        worker_type = event.message.worker_type
        attempts: list[asyncio.Task[asyncio.Future[None]]] = []
        try:
            for dispatch in event.message.dispatches:
                await self._slots.acquire()
                attempts.append(asyncio.create_task(self._attempt(dispatch, worker_type)))
            rounds = await asyncio.gather(*attempts)
        except asyncio.CancelledError:  # the worker stops: attempts not reported are redone
            for attempt in attempts:
                attempt.cancel()
            raise
        await asyncio.gather(*set(rounds))

    async def _attempt(
        self, dispatch: events_pb2.TaskDispatch, worker_type: WorkerType
    ) -> asyncio.Future[None]:
        """Run one attempt in the slot taken for it; returns the round carrying its reports."""
        attempt = _Attempt(dispatch, worker_type, time.time_ns(), time.monotonic() + STARTED_DELAY)
        key = attempt.key
        self._running[key] = attempt
        self._meter.begin(worker_type)
        try:
            outcome = await self._run(attempt)
        finally:
            self._running.pop(key, None)
            self._meter.end(worker_type)
            self._slots.release()
        # A success says when it started; a failure's start is recorded by its STARTED.
        succeeded = outcome.phase == events_pb2.ATTEMPT_PHASE_SUCCEEDED
        reports = [outcome] if attempt.announced or succeeded else [attempt.started(), outcome]
        return self._reports.add([(dispatch.shard, r) for r in reports])

    async def _announce_started(self) -> None:
        """STARTED goes out on its own only for attempts still running after STARTED_DELAY;
        a shorter success's outcome says when it started, which is all its STARTED would have
        said (one sweep for all, not a timer each)."""
        while True:
            await asyncio.sleep(STARTED_DELAY / 2)
            now = time.monotonic()
            due = [a for a in self._running.values() if not a.announced and a.due <= now]
            for attempt in due:
                attempt.announced = True
            if due:
                self._reports.add([(a.dispatch.shard, a.started()) for a in due])

    async def _run(self, attempt: _Attempt) -> events_pb2.AttemptReport:
        dispatch = attempt.dispatch
        report = events_pb2.AttemptReport(task=dispatch.task, attempt=dispatch.attempt,
                                          dispatch_id=dispatch.dispatch_id,
                                          start_time=attempt.start_time)  # fmt: skip
        function = self._registry.get(dispatch.function_name)
        with _attempt_span(dispatch) as span:
            await self._execute(attempt, function, report)
            if report.phase == events_pb2.ATTEMPT_PHASE_FAILED:
                span.set_status(StatusCode.ERROR, report.error.message[:200])
        report.end_time.CopyFrom(_stamp(time.time_ns()))
        return report

    async def _execute(
        self, attempt: _Attempt, function: TaskFunction | None, report: events_pb2.AttemptReport
    ) -> None:
        """Run the function; the report gets its outcome."""
        dispatch = attempt.dispatch
        try:
            if function is None:
                raise LookupError(f"{dispatch.function_name} is not registered here")
            args = arguments(dispatch)
            attempt.stoppable = function.is_async
            with peers.acting_for(dispatch.owner):  # its calls to peers name the task's owner
                async with asyncio.timeout(_seconds(dispatch.attempt_timeout) or None):
                    value = await self._call(function, args)
            report.result.CopyFrom(convert.json_value(value))
            report.phase = events_pb2.ATTEMPT_PHASE_SUCCEEDED
        except Exception as exc:
            report.phase = events_pb2.ATTEMPT_PHASE_FAILED
            report.error.CopyFrom(_error(exc, function))
        except asyncio.CancelledError:
            if not attempt.cancelled:
                raise  # this worker is stopping, not the attempt
            _uncancel()
            report.phase = events_pb2.ATTEMPT_PHASE_CANCELLED  # stopped on a cancellation request

    async def _on_cancel(self, msg: Msg) -> None:
        """A caller cancelled a task: stop its attempt if it runs here (every worker hears
        it). Only an async function can be stopped safely; a thread or a process runs on to
        its end."""
        with contextlib.suppress(DecodeError):
            event = events_pb2.TaskCancellationRequestedEvent.FromString(msg.data)
            attempt = self._running.get((event.task, event.dispatch_id))
            if attempt is not None and attempt.stoppable and attempt.task is not None:
                attempt.cancelled = True
                attempt.task.cancel()

    async def _call(self, function: TaskFunction, args: dict[str, Any]) -> Any:
        if function.is_async:
            return await function.call(**args)
        call = functools.partial(function.call, **args)
        executor = self._process_pool() if function.worker_type in PROCESS_TYPES else None
        return await asyncio.get_running_loop().run_in_executor(executor, call)

    def _process_pool(self) -> Executor:
        """Spawned (not forked: this process runs threads and an event loop) on first use."""
        if self._processes is None:
            context = multiprocessing.get_context("spawn")
            self._processes = ProcessPoolExecutor(self._concurrency, mp_context=context)
        return self._processes

    async def _publish_reports(self, reports: list[tuple[int, events_pb2.AttemptReport]]) -> None:
        """One message per shard for every report waiting, published together; the
        dispatches they answer are acked only after this returns."""
        by_shard: dict[int, list[events_pb2.AttemptReport]] = {}
        for shard, report in reports:
            by_shard.setdefault(shard, []).append(report)
        await asyncio.gather(*(
            self._bus.publish(
                events_pb2.TaskAttemptsReportedEvent(worker=self.name, shard=shard, reports=batch),
                suffix=str(shard),
            )
            for shard, batch in by_shard.items()
        ))  # fmt: skip


@dataclass(eq=False)
class _Attempt:
    """An attempt running here: when it started, whether its STARTED report went out on its
    own, and how to stop it."""

    dispatch: events_pb2.TaskDispatch
    worker_type: WorkerType
    start_ns: int
    due: float  # monotonic time after which STARTED is sent without waiting for the outcome
    announced: bool = False
    stoppable: bool = False  # an async call, which a cancellation request may stop
    cancelled: bool = False  # stopped on a cancellation request
    task: asyncio.Task[Any] | None = field(default_factory=asyncio.current_task)

    @property
    def key(self) -> tuple[str, str]:
        return (self.dispatch.task, self.dispatch.dispatch_id)

    @property
    def start_time(self) -> timestamp_pb2.Timestamp:
        return _stamp(self.start_ns)

    def started(self) -> events_pb2.AttemptReport:
        d = self.dispatch
        return events_pb2.AttemptReport(
            task=d.task, attempt=d.attempt, dispatch_id=d.dispatch_id,
            phase=events_pb2.ATTEMPT_PHASE_STARTED, start_time=self.start_time,
        )  # fmt: skip

    def in_flight(self) -> events_pb2.InFlightAttempt:
        d = self.dispatch
        return events_pb2.InFlightAttempt(task=d.task, attempt=d.attempt,
                                          dispatch_id=d.dispatch_id, shard=d.shard,
                                          start_time=self.start_time)  # fmt: skip


def _attempt_span(dispatch: events_pb2.TaskDispatch) -> AbstractContextManager[Span]:
    """The attempt's span, a child of the span that submitted the task (its `traceparent`
    travels with the task), not of the dispatch message that happened to carry it: one trace
    then runs from the edge to the worker, retries included."""
    traced = dispatch.traceparent
    parent = telemetry.extract({"traceparent": traced}) if traced else None
    return telemetry.span(
        f"task {dispatch.function_name}", parent=parent, kind=SpanKind.CONSUMER,
        attributes={"voka.task.name": dispatch.task, "voka.task.attempt": dispatch.attempt},
    )  # fmt: skip


def arguments(dispatch: events_pb2.TaskDispatch) -> dict[str, Any]:
    """The keyword arguments, in either form a scheduler sends them."""
    if dispatch.WhichOneof("arguments") == "args_json":
        args: dict[str, Any] = json.loads(dispatch.args_json)
        return args
    return convert.struct_to_python(dispatch.args)


def _stamp(ns: int) -> timestamp_pb2.Timestamp:
    return timestamp_pb2.Timestamp(seconds=ns // 1_000_000_000, nanos=ns % 1_000_000_000)


def _seconds(span: duration_pb2.Duration) -> float:
    return span.seconds + span.nanos / 1e9


def _uncancel() -> None:
    """The attempt's own cancellation is handled: later awaits of its task must not see it."""
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _error(exc: Exception, function: TaskFunction | None) -> tasks_pb2.TaskError:
    if function is None:
        kind, retryable = "UnknownFunction", False
    elif isinstance(exc, TimeoutError):
        kind, retryable = "AttemptTimeout", True
    else:
        kind, retryable = type(exc).__name__, not isinstance(exc, NonRetryableError | TypeError)
    details = "".join(traceback.format_exception(exc))[-DETAILS_LIMIT:]
    return tasks_pb2.TaskError(message=str(exc) or kind, type=kind, retryable=retryable,
                               details=details, time=_stamp(time.time_ns()))  # fmt: skip


async def _serve(types: Sequence[tasks_pb2.WorkerType.ValueType], concurrency: int) -> None:
    settings = TasksSettings(service="tasks")
    bus = await Bus.connect(settings.nats_url, name="voka-tasks-worker")
    registry = default_registry(settings.tasks_function_modules)
    worker = Worker(bus, registry, types, concurrency, ack_wait=settings.tasks_visibility_seconds)
    await worker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker %s serving %s", worker.name, [type_token(t) for t in types])
    await stop.wait()
    await worker.stop(settings.shutdown_grace_seconds)
    await bus.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A Voka task worker.")
    parser.add_argument("--type", action="append", required=True, help="worker type, repeatable")
    parser.add_argument("--concurrency", type=int, default=8, help="attempts at once")
    options = parser.parse_args(argv)
    settings = TasksSettings(service="tasks")
    telemetry.setup_logging("tasks-worker", settings.log_level, settings.log_json)
    telemetry.setup_tracing("tasks-worker", settings.version)
    types = [parse_worker_type(t) for t in options.type]
    event_loop.run(_serve(types, options.concurrency), settings.event_loop)


if __name__ == "__main__":
    main()
