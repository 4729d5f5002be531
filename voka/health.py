"""Health of one service: dependency checks feeding `grpc.health.v1` (probes, Envoy) and
`voka.ops.v1.OpsService` (the detailed view, REST `GET /api/v1/health/{service}`).

A monitor re-runs the checks periodically, so a service whose database goes away leaves the
load balancer's rotation on its own, and comes back when the database does. The same loop samples
the system figures (voka/system.py) and evaluates the alert rules (voka/alerts.py); the RPC
latency window (voka/latency.py) is fed by the `observe` hook.

GetHealth and WatchHealth are public, so anyone can call them as often as they like: they read
the loop's latest result instead of checking the dependencies again (a caller costs a copy, never
a database round trip), a watch has a minimum interval and an end, a process serves a bounded
number of watches, and what a dependency said (host names, users, paths) is for admins only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from grpc_health.v1 import health_pb2
from grpc_health.v1.health import aio as health_aio

from voka import authn, errors, metrics
from voka.alerts import Alerts, Change
from voka.errors import FieldViolation
from voka.latency import LatencyWindow
from voka.ops.v1 import ops_pb2, ops_pb2_grpc
from voka.system import SystemSampler
from voka.wellknown import duration, timestamp

log = logging.getLogger("voka.health")

# A check returns a short description of what it verified, or raises.
Check = Callable[[], Awaitable[str]]
Listener = Callable[[ops_pb2.Health], Awaitable[None]]
AlertListener = Callable[[Change], Awaitable[None]]
CHECK_TIMEOUT = 2.0
# gRPC health name for liveness probes: SERVING for as long as the process answers at all, so a
# database outage takes a pod out of rotation (readiness, the "" name) without restarting it.
LIVENESS = "liveness"


@dataclass
class Vitals:
    """What the health loop measures besides the dependencies, and the rules over it all."""

    system: SystemSampler = field(default_factory=lambda: SystemSampler(Path(".")))
    latencies: LatencyWindow = field(default_factory=LatencyWindow)
    alerts: Alerts = field(default_factory=lambda: Alerts([], hold_seconds=0.0))


class HealthMonitor:
    """Runs the checks, remembers the last verdict, and keeps gRPC health in step with it."""

    def __init__(
        self,
        service: str,
        version: str,
        checks: Mapping[str, Check],
        grpc_names: list[str],
        vitals: Vitals | None = None,
        *,
        readiness: Collection[str] | None = None,
    ) -> None:
        """`readiness`: the checks whose failure makes the service NOT_SERVING (None: all of
        them). The others are reported (dependencies, voka_dependency_up, the alerts) but leave
        the service in rotation: a dependency every replica loses at once, such as NATS, would
        otherwise take the whole API down with it (docs/operations.md, "Readiness")."""
        self.service = service
        self.version = version
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self.grpc_health = health_aio.HealthServicer()
        self._checks = dict(checks)
        self._readiness = set(checks if readiness is None else readiness)
        self._grpc_names = ["", *grpc_names]
        self._started = datetime.now(UTC)
        self._draining = False
        self._last_status = ops_pb2.SERVING_STATUS_UNSPECIFIED
        self._latest: ops_pb2.Health | None = None
        self._first = asyncio.Lock()
        self._listeners: list[Listener] = []
        self._alert_listeners: list[AlertListener] = []
        self.vitals = vitals or Vitals()
        self._system = self.vitals.system.sample()

    def on_change(self, listener: Listener) -> None:
        """Call `listener` with the new health whenever the serving status changes."""
        self._listeners.append(listener)

    def on_alert(self, listener: AlertListener) -> None:
        """Call `listener` with each alert that fires or resolves."""
        self._alert_listeners.append(listener)

    async def start(self) -> None:
        await self.grpc_health.set(LIVENESS, health_pb2.HealthCheckResponse.SERVING)
        await self.snapshot()

    async def snapshot(self) -> ops_pb2.Health:
        results = await asyncio.gather(*(_run(n, c) for n, c in self._checks.items()))
        ready = all(r.ok for r in results if r.name in self._readiness)
        healthy = ready and not self._draining
        status = ops_pb2.SERVING_STATUS_SERVING if healthy else ops_pb2.SERVING_STATUS_NOT_SERVING
        health = ops_pb2.Health(
            service=self.service,
            version=self.version,
            status=status,
            draining=self._draining,
            start_time=timestamp(self._started),
            uptime=duration(datetime.now(UTC) - self._started),
            dependencies=results,
            system=self._system,
            api=self.vitals.latencies.figures(),
            alerts=self.vitals.alerts.active(),
        )
        self._latest = health
        await self._publish(health)
        return health

    async def latest(self) -> ops_pb2.Health:
        """The loop's latest result, its uptime brought up to now: what callers read. Only a
        caller arriving before the loop's first round waits for one (shared by all of them)."""
        if self._latest is None:
            async with self._first:
                if self._latest is None:
                    await self.snapshot()
        assert self._latest is not None
        health = ops_pb2.Health()
        health.CopyFrom(self._latest)
        health.uptime.CopyFrom(duration(datetime.now(UTC) - self._started))
        return health

    async def _publish(self, health: ops_pb2.Health) -> None:
        if health.status == self._last_status:
            return
        self._last_status = health.status
        serving = health.status == ops_pb2.SERVING_STATUS_SERVING
        grpc_status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else (health_pb2.HealthCheckResponse.NOT_SERVING)
        )
        for name in self._grpc_names:
            await self.grpc_health.set(name, grpc_status)
        metrics.SERVING.labels(self.service).set(1 if serving else 0)
        log.info("serving status: %s", ops_pb2.ServingStatus.Name(health.status))
        for listener in self._listeners:
            await listener(health)

    async def watch(self, interval: float) -> None:
        """Re-check, re-sample and evaluate the alerts forever; run as a background task."""
        while True:
            try:
                await self.tick()
            except Exception:  # the loop is what keeps readiness true; it must outlive a bug
                log.exception("health: tick failed")
            await asyncio.sleep(interval)

    async def tick(self) -> ops_pb2.Health:
        """One round of the loop: sample, check, evaluate, tell the alert listeners."""
        self._system = self.vitals.system.sample()
        health = await self.snapshot()
        metrics.record_health(health)
        for change in self.vitals.alerts.evaluate(health, datetime.now(UTC)):
            verb = "resolved" if change.resolve_time else "raised"
            fields = {"alert": change.alert.name, "value": change.alert.value}
            log.warning("alert %s: %s", verb, change.alert.summary, extra={"fields": fields})
            for listener in self._alert_listeners:
                await listener(change)
        return health

    async def drain(self) -> None:
        """Report NOT_SERVING from now on, so balancers stop sending before we stop serving."""
        self._draining = True
        await self.snapshot()
        await self.grpc_health.enter_graceful_shutdown()


async def _run(name: str, check: Check) -> ops_pb2.DependencyCheck:
    start = time.perf_counter()
    try:
        detail = await asyncio.wait_for(check(), CHECK_TIMEOUT)
        ok = True
    except Exception as exc:  # any failure of a dependency is a health verdict, not a crash
        detail, ok = f"{type(exc).__name__}: {exc}".rstrip(": "), False
    latency = timedelta(seconds=time.perf_counter() - start)
    return ops_pb2.DependencyCheck(name=name, ok=ok, detail=detail, latency=duration(latency))


MIN_INTERVAL = timedelta(milliseconds=500)
MAX_INTERVAL = timedelta(seconds=60)
DEFAULT_INTERVAL = timedelta(seconds=5)
MAX_EVENTS = 1000
# Every stream ends after this long, whatever max_events says; a watcher reconnects.
MAX_STREAM = timedelta(hours=1)
# WatchHealth streams one process serves at once; more is RESOURCE_EXHAUSTED.
MAX_WATCHERS = 32
# What callers other than admins read of a dependency.
REDACTED_OK = "ok"
REDACTED_FAILED = "unavailable"


class OpsServicer(ops_pb2_grpc.OpsServiceServicer):
    """Detailed health, identical in every service."""

    def __init__(
        self,
        monitor: HealthMonitor,
        max_watchers: int = MAX_WATCHERS,
        max_stream: timedelta = MAX_STREAM,
    ) -> None:
        self._monitor = monitor
        self._max_watchers = max_watchers
        self._max_stream = max_stream
        self._watchers = 0

    async def GetHealth(
        self, request: ops_pb2.GetHealthRequest, context: object
    ) -> ops_pb2.GetHealthResponse:
        self._check_name(request.service)
        return ops_pb2.GetHealthResponse(health=_for_caller(await self._monitor.latest()))

    async def WatchHealth(
        self, request: ops_pb2.WatchHealthRequest, context: object
    ) -> AsyncIterator[ops_pb2.WatchHealthResponse]:
        interval = _validate_watch(request)
        self._check_name(request.service)
        events = request.max_events or MAX_EVENTS
        loop = asyncio.get_running_loop()
        ends = loop.time() + self._max_stream.total_seconds()
        with self._slot():
            for sent in range(events):
                if sent:
                    if loop.time() + interval.total_seconds() > ends:
                        return
                    await asyncio.sleep(interval.total_seconds())
                health = _for_caller(await self._monitor.latest())
                yield ops_pb2.WatchHealthResponse(health=health)

    @contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the process's watch slots, for as long as the stream lasts."""
        if self._watchers >= self._max_watchers:
            raise errors.resource_exhausted(
                f"{self._max_watchers} health watches are open already; try again later",
                retry_after=MIN_INTERVAL,
            )
        self._watchers += 1
        try:
            yield
        finally:
            self._watchers -= 1

    def _check_name(self, service: str) -> None:
        if service != self._monitor.service:
            raise errors.not_found("service", service)


def _for_caller(health: ops_pb2.Health) -> ops_pb2.Health:
    """The health as the caller may read it: what a dependency said (a host, a user, a path)
    and the per-RPC figures are for admins; everyone else learns only whether it is up."""
    identity = authn.optional_caller()
    if identity is not None and identity.is_admin:
        return health
    for dependency in health.dependencies:
        dependency.detail = REDACTED_OK if dependency.ok else REDACTED_FAILED
    del health.api.methods[:]  # which RPCs are called and failing: for admins too
    return health


def _validate_watch(request: ops_pb2.WatchHealthRequest) -> timedelta:
    violations = []
    interval = request.interval.ToTimedelta() if request.HasField("interval") else DEFAULT_INTERVAL
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        violations.append(FieldViolation("interval", "must be between 500ms and 60s"))
    if not 0 <= request.max_events <= MAX_EVENTS:
        violations.append(FieldViolation("max_events", f"must be between 0 and {MAX_EVENTS}"))
    if not request.service:
        violations.append(FieldViolation("service", "required"))
    if violations:
        raise errors.invalid_argument(violations)
    return interval
