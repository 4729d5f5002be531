"""Alert rules: the hold time, resolution, thresholds from the settings, and the raised and
resolved events on a real NATS server (a process under test, with its health loop running)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import pytest

from tests.fixtures.tokens import TokenFactory
from tools.processes import NatsServer
from voka import alerts
from voka.config import Settings
from voka.ops.v1 import events_pb2, ops_pb2
from voka.server import Running, ServiceSpec, start

T0 = datetime(2030, 1, 1, tzinfo=UTC)
RAISED, RESOLVED = "voka.ops.alert.raised", "voka.ops.alert.resolved"
EVENTS = {RAISED: events_pb2.AlertRaisedEvent, RESOLVED: events_pb2.AlertResolvedEvent}


def _health(cpu: float = 0.0, nats_ok: bool = True, p95: float = 0.0) -> ops_pb2.Health:
    health = ops_pb2.Health(
        system=ops_pb2.SystemFigures(cpu_percent=cpu),
        dependencies=[ops_pb2.DependencyCheck(name="nats", ok=nats_ok)],
    )
    health.api.p95_latency.FromTimedelta(timedelta(seconds=p95))
    return health


def _book(hold: float = 10.0, **thresholds: float) -> alerts.Alerts:
    return alerts.Alerts(alerts.rules(Settings(**thresholds)), hold_seconds=hold)


def test_a_rule_fires_only_after_its_hold_time_then_resolves():
    book = _book(alert_cpu_percent=80)
    assert book.evaluate(_health(cpu=95), T0) == []
    assert book.evaluate(_health(cpu=90), T0 + timedelta(seconds=5)) == []
    (raised,) = book.evaluate(_health(cpu=91), T0 + timedelta(seconds=10))
    assert raised.resolve_time is None
    assert (raised.alert.name, raised.alert.value, raised.alert.threshold) == ("cpu_high", 91, 80)
    assert raised.alert.since.ToDatetime(UTC) == T0
    assert raised.alert.unit == "%"
    assert book.evaluate(_health(cpu=99), T0 + timedelta(seconds=15)) == []  # fired once
    assert [a.value for a in book.active()] == [99]
    (resolved,) = book.evaluate(_health(cpu=10), T0 + timedelta(seconds=20))
    assert resolved.resolve_time == T0 + timedelta(seconds=20)
    assert resolved.alert.value == 10
    assert book.active() == []


def test_a_spike_shorter_than_the_hold_time_does_not_fire():
    book = _book(alert_cpu_percent=80)
    assert book.evaluate(_health(cpu=100), T0) == []
    assert book.evaluate(_health(cpu=5), T0 + timedelta(seconds=5)) == []
    assert book.evaluate(_health(cpu=100), T0 + timedelta(seconds=12)) == []  # the hold restarts
    assert book.active() == []


def test_thresholds_come_from_the_settings(monkeypatch: pytest.MonkeyPatch):
    defaults = {r.name: r.threshold for r in alerts.rules(Settings())}
    assert defaults == {"cpu_high": 80, "memory_high": 85, "disk_high": 90,
                        "latency_high": 2, "broker_down": 0}  # fmt: skip
    monkeypatch.setenv("VOKA_ALERT_LATENCY_P95_SECONDS", "0.5")
    book = alerts.Alerts(alerts.rules(Settings()), hold_seconds=0)
    (raised,) = book.evaluate(_health(p95=0.6), T0)
    alert = raised.alert
    assert (alert.name, alert.threshold, alert.unit) == ("latency_high", 0.5, "s")


def test_broker_down_is_critical_and_listed_first():
    book = _book(hold=0, alert_cpu_percent=0)
    changes = book.evaluate(_health(cpu=1, nats_ok=False), T0)
    assert {c.alert.name for c in changes} == {"cpu_high", "broker_down"}
    first = book.active()[0]
    assert (first.name, first.severity, first.value) == ("broker_down", alerts.CRITICAL, 1.0)


def test_a_service_without_nats_never_has_broker_down():
    book = _book(hold=0)
    health = _health()
    del health.dependencies[:]
    assert book.evaluate(health, T0) == []


# --- in a running service, with events on NATS ----------------------------------------------


async def _no_servicers(_resources: object) -> list[object]:
    return []


def _settings(tokens: TokenFactory, tmp_path: Path, nats_url: str, **values: Any) -> Settings:
    """Fast loop, short hold, and only the rules a test names can fire."""
    chosen = {"alert_cpu_percent": 100, "alert_memory_percent": 100, "alert_disk_percent": 100,
              "alert_latency_p95_seconds": 1e6, "health_interval_seconds": 0.1,
              "alert_hold_seconds": 0.3, **values}  # fmt: skip
    return Settings(service="kinect", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file,
                    nats_url=nats_url, **chosen)  # fmt: skip


@pytest.fixture
async def launch(
    tokens: TokenFactory, tmp_path: Path, nats_server: NatsServer
) -> AsyncIterator[Callable[..., Awaitable[Running]]]:
    """Starts the service on `nats_server`; stops it before the server goes."""
    started: list[Running] = []

    async def launch_with(**values: Any) -> Running:
        settings = _settings(tokens, tmp_path, nats_server.url, **values)
        running = await start(ServiceSpec(name="kinect", build=_no_servicers), settings)  # type: ignore[arg-type]
        started.append(running)
        return running

    yield launch_with
    for running in started:
        await running.stop()


async def _until(predicate: Callable[[], Awaitable[bool]], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def _alert_events(nats_url: str, count: int) -> list[tuple[str, Any]]:
    """The first `count` alert events stored in JetStream, oldest first."""
    nc = await nats.connect(nats_url)
    try:
        sub = await nc.jetstream().subscribe("voka.ops.alert.>", ordered_consumer=True)
        found = []
        for _ in range(count):
            msg = await sub.next_msg(timeout=10)
            found.append((msg.subject, EVENTS[msg.subject].FromString(msg.data)))
        return found
    finally:
        await nc.close()


async def _firing(running: Running) -> bool:
    return bool((await running.monitor.snapshot()).alerts)


async def _quiet(running: Running) -> bool:
    return not await _firing(running)


async def test_latency_alert_fires_after_hold_and_resolves_with_events(launch, nats_server):
    running = await launch(alert_latency_p95_seconds=0, latency_window_seconds=1)
    running.monitor.vitals.latencies.record("/voka.kinect.v1.KinectService/GetStatus", 0.25)
    fired_after = time.monotonic()
    await _until(lambda: _firing(running))
    assert time.monotonic() - fired_after >= 0.3  # the hold time
    (alert,) = (await running.monitor.snapshot()).alerts
    assert (alert.name, alert.value, alert.threshold) == ("latency_high", 0.25, 0)
    # The call leaves the window after a second; the p95 falls to 0 and the alert resolves.
    await _until(lambda: _quiet(running))
    (raised_subject, raised), (resolved_subject, resolved) = await _alert_events(nats_server.url, 2)
    assert (raised_subject, resolved_subject) == (RAISED, RESOLVED)
    assert (raised.service, raised.instance) == ("kinect", running.monitor.instance)
    assert raised.alert.name == resolved.alert.name == "latency_high"
    assert resolved.alert.value == 0
    assert resolved.resolve_time.ToDatetime(UTC) >= resolved.alert.since.ToDatetime(UTC)


async def test_broker_down_fires_while_nats_is_stopped(launch, nats_server: NatsServer):
    running = await launch()
    nats_server.stop()
    await _until(lambda: _firing(running))
    (alert,) = (await running.monitor.snapshot()).alerts
    assert (alert.name, alert.severity) == ("broker_down", ops_pb2.ALERT_SEVERITY_CRITICAL)
    nats_server.start()
    await _until(lambda: _quiet(running), seconds=30)
    # The raised event waited in the client while NATS was away.
    events = await _alert_events(nats_server.url, 2)
    assert [(s, e.alert.name) for s, e in events] == [
        (RAISED, "broker_down"),
        (RESOLVED, "broker_down"),
    ]


async def test_a_broken_bus_never_breaks_the_health_loop(launch, nats_server, monkeypatch):
    running = await launch(alert_cpu_percent=0, alert_hold_seconds=0)

    async def refuse(*_: object, **__: object) -> str:
        raise ConnectionError("nats: gone")

    monkeypatch.setattr(running.resources.bus, "emit", refuse)
    await _until(lambda: _firing(running))
    health = await running.monitor.snapshot()
    assert health.status == ops_pb2.SERVING_STATUS_SERVING
