"""The Prometheus alerting rules (k8s/base/prometheus/voka-alerts.yaml): in every overlay as the
ConfigMap voka-prometheus-rules, in Prometheus's rule file format, and the same rules, default
thresholds, hold time and severities as the services' own alerts (voka/alerts.py) on gauges the
kit exports (voka/metrics.py)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from tests.k8s.test_manifests import K8S, generated, render
from voka import alerts, metrics
from voka.config import Settings
from voka.ops.v1 import ops_pb2

RULE_FILE = "voka-alerts.yaml"
GROUP_KEYS = {"name", "interval", "limit", "rules"}
RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
EXPR = re.compile(r"^(?P<metric>[a-z0-9_]+)(\{[^}]*\})? (>|==) (?P<value>[\d.]+)$")


def _rules(text: str) -> list[dict[str, Any]]:
    document = yaml.safe_load(text)
    assert set(document) == {"groups"}
    for group in document["groups"]:
        assert set(group) <= GROUP_KEYS
        assert "name" in group
        for rule in group["rules"]:
            assert set(rule) <= RULE_KEYS, rule
    return [rule for group in document["groups"] for rule in group["rules"]]


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
    rules = _rules((K8S / "base" / "prometheus" / RULE_FILE).read_text())
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
    rules = _rules((K8S / "base" / "prometheus" / RULE_FILE).read_text())
    for rule in rules:
        match = EXPR.match(rule["expr"])
        assert match, rule["expr"]
        assert match["metric"] in exported, rule["expr"]


def test_promtool_accepts_the_rule_file():
    """promtool comes from Debian's prometheus package (scripts/apt-packages-dev.txt)."""
    path = Path(K8S / "base" / "prometheus" / RULE_FILE)
    subprocess.run(["promtool", "check", "rules", str(path)], check=True, timeout=60)
