"""Bootstrap of a service process: one call turns a ServiceSpec into a running gRPC server with
health, reflection, the ops service, the standard hooks, metrics, database, bus and a graceful
SIGTERM. Services only describe what they serve.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from voka import (
    alerts,
    authn,
    credentials,
    db,
    error_log,
    event_loop,
    hooks,
    loop_lag,
    peer_calls,
    registry,
    telemetry,
)
from voka.backup import Shelf
from voka.bus import PUBLISH_TIMEOUT, Bus
from voka.calls import Hook, HookInterceptor
from voka.config import Settings
from voka.health import Check, HealthMonitor, Vitals
from voka.latency import LatencyWindow
from voka.mesh_ops import Backups, MeshOpsServicer
from voka.metrics import serve_metrics
from voka.ops.v1 import events_pb2, ops_pb2, ops_pb2_grpc
from voka.outbox import Outbox, Relay
from voka.ratelimit import RateLimiter, rate_limit_hook
from voka.system import SystemSampler
from voka.transactions import Transactions

log = logging.getLogger("voka.server")
SettingsT = TypeVar("SettingsT", bound=Settings)

MAX_MESSAGE_BYTES = 32 * 1024 * 1024  # audio uploads; services set tighter limits per field


@dataclass(frozen=True)
class Registration:
    """One gRPC service of a process: the generated `add_*_to_server` and its servicer."""

    add: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    name: str  # full service name, e.g. "voka.meetings.v1.MeetingsService"


def registration(servicer: Any) -> Registration:
    """Registration of a servicer, found from the generated base class it subclasses, so a
    service names its servicer once and cannot pair it with the wrong `add_*` function."""
    base = next(
        b
        for b in type(servicer).__mro__
        if b.__module__.endswith("_pb2_grpc") and b.__name__.endswith("Servicer")
    )
    module = sys.modules[base.__module__]  # the generated *_pb2_grpc module
    service = base.__name__.removesuffix("Servicer")
    pb2 = sys.modules[base.__module__.removesuffix("_grpc")]
    return Registration(
        add=getattr(module, f"add_{base.__name__}_to_server"),
        servicer=servicer,
        name=pb2.DESCRIPTOR.services_by_name[service].full_name,
    )


def single(
    factory: Callable[[Resources], Any],
) -> Callable[[Resources], Awaitable[list[Registration]]]:
    """`ServiceSpec.build` for a process serving one servicer made by `factory`."""

    async def build(resources: Resources) -> list[Registration]:
        return [registration(factory(resources))]

    return build


@dataclass
class Resources:
    """What the kit opened for a service before building it."""

    settings: Settings
    engine: AsyncEngine | None = None
    sessions: async_sessionmaker[AsyncSession] | None = None
    # One-go transactions on the same database (voka.transactions), for hot writes; on SQLite
    # one thread per service, which the outbox relay writes from too.
    transactions: Transactions | None = None
    bus: Bus | None = None
    # With a database and a bus: where events that must not be lost are written, in the
    # transaction of the change that causes them (voka.outbox); the kit runs its relay.
    outbox: Outbox | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    # Set by a build that verifies callers itself (the auth service holds the keys and the
    # denylist); otherwise the kit verifies against the JWKS file or the auth service
    # (voka.credentials).
    verifier: authn.Verifier | None = None
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def settings_as(self, kind: type[SettingsT]) -> SettingsT:
        """The service's own Settings subclass: the kit hands over its Settings, and the
        service's `VOKA_<DOMAIN>_*` variables are read on top of them."""
        if isinstance(self.settings, kind):
            return self.settings
        return kind(**self.settings.model_dump())


@dataclass(frozen=True)
class ServiceSpec:
    """A service: its domain name, what it needs, and how to build its servicers."""

    name: str
    build: Callable[[Resources], Awaitable[Sequence[Registration]]]
    database: bool = False
    # Every service publishes its status changes, so NATS is a dependency by default.
    bus: bool = True
    # The dependency checks that make the service NOT_SERVING when they fail. NATS is not one:
    # every replica loses it at once, events wait in the outbox and watches poll, so an outage
    # must not take the API out of rotation (docs/operations.md, "Readiness").
    readiness: frozenset[str] = frozenset({"database"})


@dataclass
class Running:
    """A started service; `port` is the bound gRPC port (useful when asked for port 0)."""

    server: grpc.aio.Server
    port: int
    monitor: HealthMonitor
    resources: Resources
    _tasks: list[asyncio.Task[None]]
    # Set by SIGTERM/SIGINT or an admin's Drain: the process should stop (`run` waits on it).
    stop_requested: asyncio.Event = field(default_factory=asyncio.Event)

    async def stop(self, drain_seconds: float = 0.0, grace: float = 5.0) -> None:
        """Drain, stop serving, then close what the service opened, newest first. Each close
        gets STOP_STEP_SECONDS: one that overruns is logged with the stacks of every task still
        pending (where the stop is stuck) and cancelled, so a stop always ends, within the
        pod's termination grace, and the rest still closes."""
        await _bounded(self.monitor.drain)
        await asyncio.sleep(drain_seconds)
        await _bounded(functools.partial(self.server.stop, grace), grace)
        for task in self._tasks:
            task.cancel()
        for close in reversed(self.resources.on_stop):
            await _bounded(close)


STOP_STEP_SECONDS = 15.0
STACKS_LOGGED = 100  # tasks whose stacks an overrun logs
STOP_OVERRUN = "voka_stop_overrun"  # set on the log record of an overrun, for log filters


async def _bounded(close: Callable[[], Awaitable[object]], grace: float = 0.0) -> None:
    """`close()`, given `grace` + STOP_STEP_SECONDS."""
    step = asyncio.ensure_future(close())
    limit = grace + STOP_STEP_SECONDS
    if (await asyncio.wait({step}, timeout=limit))[0]:
        step.result()  # a close that failed says so
        return
    log.error("stop: %s overran %.0f s and is cancelled; pending tasks:\n%s",
              getattr(close, "__qualname__", repr(close)), limit, _pending_stacks(),
              extra={STOP_OVERRUN: True})  # fmt: skip
    step.cancel()
    await asyncio.wait({step}, timeout=STOP_STEP_SECONDS)


def _pending_stacks() -> str:
    """Every other pending task of the loop, each with the chain of awaits it is suspended
    in (outermost first): `Task.print_stack` shows only a suspended task's own frame."""
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    lines = []
    for task in tasks[:STACKS_LOGGED]:
        lines.append(f"{task.get_name()}:")
        lines += [f"  {where}" for where in _awaiting(task.get_coro())]
    if len(tasks) > STACKS_LOGGED:
        lines.append(f"... and {len(tasks) - STACKS_LOGGED} more tasks")
    return "\n".join(lines)


def _awaiting(awaitable: object) -> list[str]:
    chain = []
    while (frame := getattr(awaitable, "cr_frame", None)) is not None:
        code = frame.f_code
        chain.append(f"{code.co_filename}:{frame.f_lineno} in {code.co_qualname}")
        awaitable = getattr(awaitable, "cr_await", None)
    if awaitable is not None:  # a future, or a generator-based awaitable
        chain.append(repr(awaitable)[:200])
    return chain


async def start(spec: ServiceSpec, settings: Settings) -> Running:
    """Open resources, build the servicers and start serving (does not block)."""
    resources = await _open_resources(spec, settings)
    registrations = list(await spec.build(resources))
    verifier = resources.verifier
    if verifier is None:
        kit = await credentials.start(spec.name, settings, resources.bus)
        verifier = resources.verifier = kit.verifier
        resources.on_stop.extend(kit.on_stop)
    names = [r.name for r in registrations]
    vitals = _vitals(settings)
    monitor = HealthMonitor(
        spec.name, settings.version, resources.checks, names, vitals, readiness=spec.readiness
    )
    if resources.bus is not None:
        monitor.on_change(_status_event_publisher(resources.bus, monitor))
        monitor.on_alert(_alert_event_publisher(resources.bus, monitor))
    server = grpc.aio.server(
        interceptors=[HookInterceptor(hook_stack(settings, verifier, vitals.latencies))],
        options=_server_options(settings),
    )
    addresses = {name: settings.address_of(name) for name in registry.names()}
    stop_requested = asyncio.Event()
    ops = MeshOpsServicer(
        monitor, addresses, error_log.install(), stop_requested.set, _backups(spec, settings)
    )
    resources.on_stop.append(ops.close)
    _register(server, registrations, monitor, ops)
    port = server.add_insecure_port(f"{settings.host}:{settings.grpc_port}")
    await server.start()
    await monitor.start()
    tasks = [
        asyncio.create_task(monitor.watch(settings.health_interval_seconds)),
        asyncio.create_task(loop_lag.watch(), name="event-loop-lag"),
    ]
    log.info("%s serving gRPC on %s:%d", spec.name, settings.host, port)
    return Running(server, port, monitor, resources, tasks, stop_requested)


def _backups(spec: ServiceSpec, settings: Settings) -> Backups:
    shelf = None
    if spec.database:
        url, out = settings.sqlalchemy_url, settings.backups_path
        shelf = Shelf(url, out, spec.name, settings.backup_keep)
    with_database = [name for name in registry.names() if registry.declaration(name).migrations]
    return Backups(shelf, with_database)


def _server_options(settings: Settings) -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
        ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        # Two servers silently sharing a port would split traffic between them.
        ("grpc.so_reuseport", 0),
        # Peers ping during calls (voka.peer_calls); the default floor of 5 minutes between
        # pings would answer theirs with GOAWAY "too_many_pings".
        ("grpc.http2.min_ping_interval_without_data_ms", peer_calls.KEEPALIVE_MS // 2),
    ]
    if settings.connection_max_age_seconds > 0:  # callers re-resolve; new replicas get calls
        grace_ms = int(settings.shutdown_grace_seconds * 1000)
        options.append(
            ("grpc.max_connection_age_ms", int(settings.connection_max_age_seconds * 1000))
        )
        options.append(("grpc.max_connection_age_grace_ms", grace_ms))
    return options


def _vitals(settings: Settings) -> Vitals:
    return Vitals(
        system=SystemSampler(settings.data_dir),
        latencies=LatencyWindow(settings.latency_window_seconds),
        alerts=alerts.Alerts(alerts.rules(settings), settings.alert_hold_seconds),
    )


def hook_stack(
    settings: Settings, verifier: authn.Verifier, latencies: LatencyWindow
) -> list[Hook]:
    """The hooks around every call of a service, outermost first (bench/kit.py prices them)."""
    stack = [hooks.observe(latencies), hooks.map_errors, authn.identity_hook(verifier)]
    if settings.rate_limit_per_second > 0:
        limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst)
        stack.append(rate_limit_hook(limiter))
    return stack


def _register(
    server: grpc.aio.Server,
    registrations: list[Registration],
    monitor: HealthMonitor,
    ops: MeshOpsServicer,
) -> None:
    for registration in registrations:
        registration.add(registration.servicer, server)
    ops_pb2_grpc.add_OpsServiceServicer_to_server(ops, server)
    health_pb2_grpc.add_HealthServicer_to_server(monitor.grpc_health, server)
    reflection.enable_server_reflection(
        [
            *(r.name for r in registrations),
            ops_pb2.DESCRIPTOR.services_by_name["OpsService"].full_name,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ],
        server,
    )


async def _open_resources(spec: ServiceSpec, settings: Settings) -> Resources:
    resources = Resources(settings=settings)
    if spec.database:
        engine = db.create_engine(settings.sqlalchemy_url, **settings.pool_options)
        await db.migrate(engine, spec.name)
        resources.engine, resources.sessions = engine, db.session_factory(engine)
        resources.checks["database"] = lambda: _check_database(engine)
        resources.on_stop.append(engine.dispose)
        transactions = resources.transactions = Transactions(engine, spec.name)
        resources.on_stop.append(transactions.aclose)  # after the relay and the service
    if spec.bus:
        bus = await Bus.connect(settings.nats_url, name=f"voka-{spec.name}")
        await bus.ensure_stream(spec.name)
        resources.bus = bus
        resources.checks["nats"] = bus.check
        resources.on_stop.append(bus.close)
    if resources.transactions is not None and resources.bus is not None:
        outbox = resources.outbox = Outbox(spec.name)
        relay = Relay(outbox, resources.transactions, resources.bus)
        await relay.start()
        resources.on_stop.append(relay.stop)  # stops first: on_stop runs in reverse
    return resources


async def _check_database(engine: AsyncEngine) -> str:
    await db.check(engine)
    return engine.dialect.name


def _status_event_publisher(
    bus: Bus, monitor: HealthMonitor
) -> Callable[[ops_pb2.Health], Awaitable[None]]:
    async def publish(health: ops_pb2.Health) -> None:
        reason = "; ".join(f"{d.name}: {d.detail}" for d in health.dependencies if not d.ok)
        event = events_pb2.ServiceStatusChangedEvent(
            service=health.service,
            instance=monitor.instance,
            status=health.status,
            reason="draining" if health.draining else reason,
        )
        with contextlib.suppress(Exception):  # the event is informative; never block health
            await bus.publish(event)

    return publish


def _alert_event_publisher(
    bus: Bus, monitor: HealthMonitor
) -> Callable[[alerts.Change], Awaitable[None]]:
    async def publish(change: alerts.Change) -> None:
        event = change.event(monitor.service, monitor.instance)
        try:
            # A hint, not a stored truth (the health shows the alerts): no ack to wait for,
            # and while NATS is down the client keeps it until it reconnects.
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await bus.emit(event)
        except Exception as exc:  # an alert must never take the health loop down
            log.warning("alert event %s not published: %r", change.alert.name, exc)

    return publish


def run(spec: ServiceSpec, settings: Settings | None = None) -> None:
    """Entry point of a service process: serve until SIGTERM/SIGINT, then drain and stop."""
    settings = settings or Settings()
    settings = settings.model_copy(update={"service": spec.name})
    telemetry.setup_logging(spec.name, settings.log_level, settings.log_json)
    telemetry.setup_tracing(spec.name, settings.version)
    serve_metrics(settings.host, settings.prometheus_port)
    event_loop.run(_serve_until_signal(spec, settings), settings.event_loop)


async def _serve_until_signal(spec: ServiceSpec, settings: Settings) -> None:
    running = await start(spec, settings)
    # What start-up made (modules, descriptors, models, settings) lives as long as the
    # process: frozen, the collector's full passes stop walking it again and again. Its
    # garbage is collected first, so none of it is kept for good.
    gc.collect()
    gc.freeze()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, running.stop_requested.set)
    await running.stop_requested.wait()
    log.info("%s draining", spec.name)
    await running.stop(settings.drain_seconds, settings.shutdown_grace_seconds)
    log.info("%s stopped", spec.name)
