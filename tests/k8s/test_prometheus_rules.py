"""The Prometheus alerting rules (k8s/base/prometheus/voka-alerts.yaml): in every overlay as the
ConfigMap voka-prometheus-rules, in Prometheus's rule file format, and in prod as the Prometheus
Operator's PrometheusRule. Group `voka` holds the same rules, default thresholds, hold time and
severities as the services' own alerts (voka/alerts.py) on gauges the kit exports
(voka/metrics.py); group `voka-mesh` the alerts no single process can raise, each driven by
`promtool test rules` (tests/k8s/prometheus/voka-alerts.test.yaml). Every rule reads metrics
the code or a listed exporter exports (tools/k8s_monitoring.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from tests.k8s import promql
from tests.k8s.test_manifests import K8S, by_kind, generated, render
from tools import k8s_monitoring
from voka import alerts, metrics
from voka.config import Settings
from voka.ops.v1 import ops_pb2

RULE_FILE = "voka-alerts.yaml"
RULE_PATH = K8S / "base" / "prometheus" / RULE_FILE
# The group mirroring the services' own rules (voka/alerts.py).
SERVICE_RULES = "voka"
UNIT_TESTS = Path(__file__).parent / "prometheus" / "voka-alerts.test.yaml"
GROUP_KEYS = {"name", "interval", "limit", "rules"}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
EXPR = re.compile(r"^(?P<metric>[a-z0-9_]+)(\{[^}]*\})? (>|==) (?P<value>[\d.]+)$")


def _rules(text: str, group: str | None = None) -> list[dict[str, Any]]:
    """The rules of the file (of one `group` when named), its shape checked."""
    document = yaml.safe_load(text)
    assert set(document) == {"groups"}
    for each in document["groups"]:
        assert set(each) <= GROUP_KEYS
        assert "name" in each
        for rule in each["rules"]:
            assert set(rule) <= RULE_KEYS, rule
    return [
        rule
        for each in document["groups"]
        if group is None or each["name"] == group
        for rule in each["rules"]
    ]


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+)([smh])", value)
    assert match, value
    return int(match[1]) * {"s": 1, "m": 60, "h": 3600}[match[2]]


@pytest.mark.parametrize("target", ["base", "dev", "prod"])
def test_every_overlay_carries_the_rule_file(target: str):
    config_map = generated(render(target), "voka-prometheus-rules")
    assert set(config_map["data"]) == {RULE_FILE}
    assert _rules(config_map["data"][RULE_FILE])


def test_prometheus_rules_match_the_services_own_rules():
    rules = _rules(RULE_PATH.read_text(), SERVICE_RULES)
    ours = {rule.name: rule for rule in alerts.rules(Settings())}
    assert {r["labels"]["rule"] for r in rules} == set(ours)
    hold = Settings().alert_hold_seconds
    for rule in rules:
        own = ours[rule["labels"]["rule"]]
        match = EXPR.match(rule["expr"])
        assert match, rule["expr"]
        assert float(match["value"]) == own.threshold, rule["expr"]
        assert _seconds(rule["for"]) == hold, rule["alert"]
        severity = ops_pb2.AlertSeverity.Name(own.severity).removeprefix("ALERT_SEVERITY_")
        assert rule["labels"]["severity"] == severity.lower()
        assert rule["annotations"]["summary"]


def test_the_rules_read_gauges_the_kit_exports():
    exported = {
        described.name
        for value in vars(metrics).values()
        if isinstance(value, MetricWrapperBase)
        for described in value.describe()
    }
    rules = _rules(RULE_PATH.read_text(), SERVICE_RULES)
    for rule in rules:
        match = EXPR.match(rule["expr"])
        assert match, rule["expr"]
        assert match["metric"] in exported, rule["expr"]


def test_every_rule_reads_metrics_that_are_exported():
    known = promql.exported_by_code() | promql.with_suffixes(
        [
            *k8s_monitoring.ENVOY_METRICS,
            *k8s_monitoring.NATS_EXPORTER_METRICS,
            *k8s_monitoring.KUBE_STATE_METRICS,
        ]
    )
    for rule in _rules(RULE_PATH.read_text()):
        names = promql.metric_names(rule["expr"])
        assert names, rule["expr"]
        assert names <= known, (rule["alert"], names - known)


def test_the_mesh_alerts_fire_when_they_should():
    """promtool's unit tests of each mesh alert: it fires, names what it is about, and keeps
    quiet about what it must ignore."""
    mesh = {rule["alert"] for rule in _rules(RULE_PATH.read_text()) if "rule" not in rule["labels"]}
    tested = {
        check["alertname"]
        for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]
        for check in case["alert_rule_test"]
        if check["exp_alerts"]
    }
    assert mesh
    assert mesh <= tested
    result = subprocess.run(
        ["promtool", "test", "rules", UNIT_TESTS.name],
        cwd=UNIT_TESTS.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_prometheus_operator_gets_the_same_rules():
    """prod ships the rule file's groups as a PrometheusRule (generated, checked current)."""
    assert k8s_monitoring.check() == [], "run `python -m tools.k8s_monitoring`"
    (rule,) = by_kind(render("prod"), "PrometheusRule").values()
    assert rule["spec"]["groups"] == yaml.safe_load(RULE_PATH.read_text())["groups"]
    assert by_kind(render("dev"), "PrometheusRule") == {}


def test_promtool_accepts_the_rule_file():
    """promtool comes from Debian's prometheus package (scripts/apt-packages-dev.txt)."""
    subprocess.run(["promtool", "check", "rules", str(RULE_PATH)], check=True, timeout=60)
