"""Alert rules over a service's health: CPU, memory and disk use, the unary RPC p95 latency and
the NATS dependency, each with a threshold from the settings (`VOKA_ALERT_*`).

The health loop evaluates them every few seconds. A rule fires once its condition has held for
the hold time, so one spike does not page anyone, and resolves as soon as it no longer holds.
Each change is handed to listeners (the kit publishes `voka.ops.alert.raised` / `.resolved`).
k8s/base/prometheus/voka-alerts.yaml states the same rules for Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from voka.config import Settings
from voka.ops.v1 import events_pb2, ops_pb2
from voka.wellknown import timestamp

# What a rule reads from a health snapshot; None when the service has nothing to measure.
Measure = Callable[[ops_pb2.Health], float | None]
WARNING = ops_pb2.ALERT_SEVERITY_WARNING
CRITICAL = ops_pb2.ALERT_SEVERITY_CRITICAL


@dataclass(frozen=True)
class Rule:
    """Fires while `measure(health) > threshold`."""

    name: str
    severity: ops_pb2.AlertSeverity.ValueType
    threshold: float
    unit: str
    measure: Measure
    summary: str  # str.format template with {value} and {threshold}

    def alert(self, value: float, since: datetime | Timestamp) -> ops_pb2.Alert:
        return ops_pb2.Alert(
            name=self.name,
            severity=self.severity,
            value=value,
            threshold=self.threshold,
            unit=self.unit,
            since=since if isinstance(since, Timestamp) else timestamp(since),
            summary=self.summary.format(value=value, threshold=self.threshold),
        )


def rules(settings: Settings) -> list[Rule]:
    """The standard rules with the thresholds of `settings`."""
    return [
        Rule("cpu_high", WARNING, settings.alert_cpu_percent, "%",
             lambda h: h.system.cpu_percent, "CPU at {value:.0f}% (over {threshold:g}%)"),
        Rule("memory_high", WARNING, settings.alert_memory_percent, "%",
             lambda h: h.system.memory_percent, "memory at {value:.0f}% (over {threshold:g}%)"),
        Rule("disk_high", WARNING, settings.alert_disk_percent, "%",
             lambda h: h.system.disk_percent, "data disk at {value:.0f}% (over {threshold:g}%)"),
        Rule("latency_high", WARNING, settings.alert_latency_p95_seconds, "s",
             _p95, "p95 RPC latency {value:.3f}s (over {threshold:g}s)"),
        Rule("broker_down", CRITICAL, 0.0, "", _down("nats"), "NATS is unreachable"),
    ]  # fmt: skip


def _p95(health: ops_pb2.Health) -> float:
    return health.api.p95_latency.ToTimedelta().total_seconds()


def _down(dependency: str) -> Measure:
    """1 while the named dependency check fails, 0 while it passes; None for a service
    without it."""

    def measure(health: ops_pb2.Health) -> float | None:
        found = [d.ok for d in health.dependencies if d.name == dependency]
        return None if not found else 0.0 if found[0] else 1.0

    return measure


@dataclass(frozen=True)
class Change:
    """An alert that fired (resolve_time None) or resolved."""

    alert: ops_pb2.Alert
    resolve_time: datetime | None = None

    def event(self, service: str, instance: str) -> Message:
        """The ops event announcing this change."""
        if self.resolve_time is None:
            return events_pb2.AlertRaisedEvent(service=service, instance=instance,
                                               alert=self.alert)  # fmt: skip
        return events_pb2.AlertResolvedEvent(
            service=service,
            instance=instance,
            alert=self.alert,
            resolve_time=timestamp(self.resolve_time),
        )


class Alerts:
    """The state of each rule: since when its condition holds, and whether it fired."""

    def __init__(self, rules: Sequence[Rule], hold_seconds: float) -> None:
        self._rules = tuple(rules)
        self._hold = hold_seconds
        self._breached: dict[str, datetime] = {}
        self._firing: dict[str, ops_pb2.Alert] = {}

    def active(self) -> list[ops_pb2.Alert]:
        """The firing alerts, most severe first."""
        return sorted(self._firing.values(), key=lambda a: -a.severity)

    def evaluate(self, health: ops_pb2.Health, now: datetime) -> list[Change]:
        """Apply one snapshot; the alerts that fired or resolved because of it."""
        changes = []
        for rule in self._rules:
            value = rule.measure(health)
            if value is None:
                continue
            change = self._apply(rule, value, now)
            if change is not None:
                changes.append(change)
        return changes

    def _apply(self, rule: Rule, value: float, now: datetime) -> Change | None:
        if value <= rule.threshold:
            self._breached.pop(rule.name, None)
            firing = self._firing.pop(rule.name, None)
            return None if firing is None else Change(rule.alert(value, firing.since), now)
        since = self._breached.setdefault(rule.name, now)
        alert = rule.alert(value, since)
        fired = rule.name not in self._firing
        if fired and (now - since).total_seconds() < self._hold:
            return None
        self._firing[rule.name] = alert
        return Change(alert) if fired else None
