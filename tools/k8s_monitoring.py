"""Monitoring files for Kubernetes, generated beside the kustomizations that ship them.

    python -m tools.k8s_monitoring            # rewrite the dashboard and the PrometheusRule
    python -m tools.k8s_monitoring --check    # list drift and exit 1 (what the tests run)

* `k8s/base/grafana/voka-dashboard.json`: the Grafana dashboard (ConfigMap
  voka-grafana-dashboard, labelled for Grafana's dashboard sidecar): a mesh overview row (edge,
  services, NATS, dead letters, outboxes, restarts), then one row per service in the registry,
  so a new service gets its row when this is rerun.
* `k8s/components/prometheus-operator/prometheus-rule.yaml`: the rules of
  `k8s/base/prometheus/voka-alerts.yaml` (the plain rule file, the one source) as a
  PrometheusRule for the Prometheus Operator.

Every query reads a metric the code exports (prometheus_client in voka/ and services/), or one
of the exporters listed here: Envoy's own statistics, the NATS exporter's, and
kube-state-metrics' (tests/k8s/test_dashboard.py parses every expression and checks each name).
Series of the services carry `service` (the Kubernetes Service's name, which is the domain: the
ServiceMonitor's target label, or the kit's own label on its gauges).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from gateway.config import STAT_PREFIX
from voka import registry
from voka.bus import DLQ_STREAM_NAME

JSON = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
RULE_FILE = K8S / "base" / "prometheus" / "voka-alerts.yaml"
DASHBOARD_FILE = K8S / "base" / "grafana" / "voka-dashboard.json"
PROMETHEUS_RULE_FILE = K8S / "components" / "prometheus-operator" / "prometheus-rule.yaml"
NAMESPACE = "voka"

# Envoy's statistics on its metrics port (/stats/prometheus, tools/k8s_gateway.py); the names
# this Envoy exports are checked by running it (tests/k8s/test_envoy_edge.py).
ENVOY_METRICS = (
    "envoy_http_downstream_rq_xx",
    "envoy_http_downstream_rq_time",
    "envoy_http_downstream_cx_active",
    "envoy_cluster_membership_healthy",
    "envoy_cluster_upstream_rq_xx",
)
# prometheus-nats-exporter beside each NATS server (-varz -jsz=all, k8s/base/nats/nats.yaml):
# `gnatsd_varz_<key>` for the keys of the server's /varz, and the JetStream collector's names
# (its collector/jsz.go).
NATS_EXPORTER_METRICS = (
    "gnatsd_varz_connections",
    "gnatsd_varz_slow_consumers",
    "gnatsd_varz_in_msgs",
    "gnatsd_varz_out_msgs",
    "jetstream_stream_total_messages",
    "jetstream_consumer_num_pending",
    "jetstream_consumer_num_ack_pending",
    "jetstream_consumer_num_redelivered",
)
# kube-state-metrics, which a Prometheus on Kubernetes scrapes anyway.
KUBE_STATE_METRICS = ("kube_pod_container_status_restarts_total",)

RATE = "[$__rate_interval]"
# gRPC codes that say the server failed, not the caller (INVALID_ARGUMENT, NOT_FOUND, ... are
# answers); the same set as the VokaErrorRateHigh alert.
SERVER_ERRORS = 'grpc_code=~"Unknown|Internal|Unavailable|DataLoss|DeadlineExceeded"'
EDGE = f'envoy_http_conn_manager_prefix="{STAT_PREFIX}"'
_WIDTH = 24  # Grafana's grid
_PANEL = (8, 8)  # width, height


def _panel(title: str, expr: str, legend: str, unit: str = "short") -> JSON:
    """A time series panel of one query; `_and` adds more."""
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": legend}],
    }


def _and(panel: JSON, expr: str, legend: str) -> JSON:
    """The panel with one more query (Grafana names them A, B, ...)."""
    target = {"refId": chr(ord("A") + len(panel["targets"])), "expr": expr, "legendFormat": legend}
    return {**panel, "targets": [*panel["targets"], target]}


def overview() -> list[JSON]:
    """The mesh at a glance: the edge, every service, NATS, and what piles up."""
    return [
        _panel(
            "Edge requests by response class",
            f"sum by (envoy_response_code_class) "
            f"(rate(envoy_http_downstream_rq_xx{{{EDGE}}}{RATE}))",
            "{{envoy_response_code_class}}xx",
            "reqps",
        ),
        _panel(
            "Edge p95 latency",
            f"histogram_quantile(0.95, sum by (le) "
            f"(rate(envoy_http_downstream_rq_time_bucket{{{EDGE}}}{RATE})))",
            "p95",
            "ms",
        ),
        _panel(
            "Healthy pods behind the edge",
            "min by (envoy_cluster_name) (envoy_cluster_membership_healthy)",
            "{{envoy_cluster_name}}",
        ),
        _panel(
            "Requests by service",
            f"sum by (service) (rate(grpc_server_handled_total{RATE}))",
            "{{service}}",
            "reqps",
        ),
        _panel(
            "Server errors by service",
            f"sum by (service) (rate(grpc_server_handled_total{{{SERVER_ERRORS}}}{RATE}))"
            f" / sum by (service) (rate(grpc_server_handled_total{RATE}))",
            "{{service}}",
            "percentunit",
        ),
        _panel("Pods serving", "sum by (service) (voka_serving)", "{{service}}"),
        _and(
            _panel("NATS clients and slow consumers", "sum(gnatsd_varz_connections)", "clients"),
            "sum(gnatsd_varz_slow_consumers)",
            "slow consumers",
        ),
        _panel(
            "JetStream consumer lag",
            "max by (stream_name, consumer_name) (jetstream_consumer_num_pending)",
            "{{stream_name}} {{consumer_name}}",
        ),
        _panel(
            "Dead letters",
            # Every server with a copy of the stream reports it: the largest count.
            "max by (stream_name) "
            f'(jetstream_stream_total_messages{{stream_name="{DLQ_STREAM_NAME}"}})',
            "stored",
        ),
        _panel(
            "Events dead-lettered",
            f"sum by (service, consumer, reason) (increase(voka_bus_dead_lettered_total{RATE}))",
            "{{service}} {{consumer}} {{reason}}",
        ),
        _panel(
            "Outbox: oldest event not yet in JetStream",
            "max by (producer) (voka_outbox_oldest_pending_seconds)",
            "{{producer}}",
            "s",
        ),
        _panel(
            "Container restarts",
            f"sum by (pod) (increase(kube_pod_container_status_restarts_total"
            f'{{namespace="{NAMESPACE}"}}{RATE}))',
            "{{pod}}",
        ),
    ]


def service_panels(domain: str) -> list[JSON]:
    """The same panels for every service, then its own metrics' (SERVICE_EXTRAS)."""
    of = f'service="{domain}"'
    return [
        _panel(
            "Requests by method",
            f"sum by (grpc_method) (rate(grpc_server_handled_total{{{of}}}{RATE}))",
            "{{grpc_method}}",
            "reqps",
        ),
        _panel(
            "Answers other than OK, by code",
            f'sum by (grpc_code) (rate(grpc_server_handled_total{{{of}, grpc_code!="OK"}}{RATE}))',
            "{{grpc_code}}",
            "reqps",
        ),
        _panel(
            "p95 latency by method",
            f"histogram_quantile(0.95, sum by (le, grpc_method) "
            f"(rate(grpc_server_handling_seconds_bucket{{{of}}}{RATE})))",
            "{{grpc_method}}",
            "s",
        ),
        _panel("RPCs in flight", f"sum(voka_grpc_server_in_flight{{{of}}})", "in flight"),
        _and(
            _panel(
                "CPU and memory, busiest pod",
                f"max(voka_system_cpu_percent{{{of}}})",
                "CPU",
                "percent",
            ),
            f"max(voka_system_memory_percent{{{of}}})",
            "memory",
        ),
        _panel(
            "Dependencies up (1) or down (0), worst pod",
            f"min by (dependency) (voka_dependency_up{{{of}}})",
            "{{dependency}}",
        ),
        _panel(
            "Events handled by outcome",
            f"sum by (outcome) (rate(voka_bus_handled_total{{{of}}}{RATE}))",
            "{{outcome}}",
            "ops",
        ),
        _panel(
            "Events published by result",
            f"sum by (result) (rate(voka_bus_published_total{{{of}}}{RATE}))",
            "{{result}}",
            "ops",
        ),
        *SERVICE_EXTRAS.get(domain, []),
    ]


SERVICE_EXTRAS: dict[str, list[JSON]] = {
    "tasks": [
        _panel(
            "Ready tasks by worker type",
            'sum by (worker_type) (voka_tasks_queue_depth{service="tasks"})',
            "{{worker_type}}",
        ),
        # Every tasks replica reports every pool: the largest, not the sum (services/tasks).
        _and(
            _panel(
                "Pool workers: live and wanted",
                'max by (worker_type) (voka_tasks_pool_workers{service="tasks"})',
                "{{worker_type}} live",
            ),
            'max by (worker_type) (voka_tasks_pool_desired_workers{service="tasks"})',
            "{{worker_type}} wanted",
        ),
        _panel(
            "Tasks dead-lettered",
            f'sum by (worker_type) (increase(voka_tasks_dead_lettered_total{{service="tasks"}}'
            f"{RATE}))",
            "{{worker_type}}",
        ),
    ],
    "translate": [
        _panel(
            "Result cache lookups",
            f'sum by (outcome) (rate(voka_translate_cache_total{{service="translate"}}{RATE}))',
            "{{outcome}}",
            "ops",
        ),
        _panel(
            "Segments refused by a full model queue",
            f'sum by (model) (rate(voka_translate_rejected_total{{service="translate"}}{RATE}))',
            "{{model}}",
            "ops",
        ),
    ],
}


def _row(title: str, y: int) -> JSON:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"h": 1, "w": _WIDTH, "x": 0, "y": y},
        "panels": [],
    }


def _laid_out(rows: list[tuple[str, list[JSON]]]) -> list[JSON]:
    """Rows one under the other, their panels three to a line; ids in order."""
    panels: list[JSON] = []
    y = 0
    width, height = _PANEL
    for title, row_panels in rows:
        panels.append(_row(title, y))
        y += 1
        for index, panel in enumerate(row_panels):
            x = (index * width) % _WIDTH
            if index and x == 0:
                y += height
            panels.append({**panel, "gridPos": {"h": height, "w": width, "x": x, "y": y}})
        y += height
    return [{**panel, "id": number} for number, panel in enumerate(panels, start=1)]


def dashboard() -> JSON:
    rows = [("Mesh", overview())]
    rows += [(f"Service: {domain}", service_panels(domain)) for domain in registry.names()]
    return {
        "uid": "voka-mesh",
        "title": "Voka mesh",
        "description": "Generated by `python -m tools.k8s_monitoring`; edit the tool, not this.",
        "tags": ["voka"],
        "editable": False,
        "schemaVersion": 39,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timezone": "utc",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                }
            ]
        },
        "annotations": {"list": []},
        "panels": _laid_out(rows),
    }


def prometheus_rule() -> JSON:
    """The plain rule file's groups as the Prometheus Operator's PrometheusRule."""
    groups = yaml.safe_load(RULE_FILE.read_text())["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "voka",
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "voka"},
        },
        "spec": {"groups": groups},
    }


def render() -> dict[Path, str]:
    """Path -> exact content of every file this tool keeps."""
    header = (
        "# Generated by `python -m tools.k8s_monitoring` from ../../base/prometheus/"
        "voka-alerts.yaml;\n# never edit by hand.\n"
    )
    rule = yaml.safe_dump(prometheus_rule(), sort_keys=False, width=1000, allow_unicode=True)
    return {
        DASHBOARD_FILE: json.dumps(dashboard(), indent=2) + "\n",
        PROMETHEUS_RULE_FILE: header + rule,
    }


def check() -> list[str]:
    """The files that differ from what `main` would write now."""
    return [
        f"{path.relative_to(ROOT)} ({'missing' if not path.is_file() else 'changed'})"
        for path, content in render().items()
        if not path.is_file() or path.read_text() != content
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.k8s_monitoring",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    args = parser.parse_args(argv)
    if args.check:
        drift = check()
        for item in drift:
            print(f"out of date, run `python -m tools.k8s_monitoring`: {item}", file=sys.stderr)
        return 1 if drift else 0
    for path, content in render().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
