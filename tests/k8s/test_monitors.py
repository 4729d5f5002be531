"""What Prometheus scrapes: every pod that exports metrics says so in its annotations (plain
Prometheus), prod's ServiceMonitor and PodMonitors (the Prometheus Operator) reach the same
ports and paths, and the NetworkPolicies let the `monitoring` namespace in on exactly them."""

from __future__ import annotations

import pytest

from tests.k8s.test_manifests import TARGETS, Doc, _selects, by_kind, one, render
from tools import k8s_gateway
from voka import registry

MONITORING = {"kubernetes.io/metadata.name": "monitoring"}
# Workload -> (port name, path) of its metrics.
SCRAPED = {
    **{domain: ("metrics", "/metrics") for domain in registry.names()},
    "envoy": ("metrics", k8s_gateway.METRICS_PATH),
    "nats": ("metrics", "/metrics"),
}


def _workloads(docs: list[Doc]) -> dict[str, Doc]:
    return {**by_kind(docs, "Deployment"), **by_kind(docs, "StatefulSet")}


def _port(template: Doc, name: str) -> int:
    ports = {
        p["name"]: p["containerPort"]
        for c in template["spec"]["containers"]
        for p in c.get("ports", [])
    }
    return int(ports[name])


def _monitoring_may_reach(docs: list[Doc], labels: dict[str, str], port: str) -> bool:
    for policy in by_kind(docs, "NetworkPolicy").values():
        if not _selects(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            peers = rule.get("from", [{}])
            if port in ports and any(
                MONITORING.items() <= p.get("namespaceSelector", {}).get("matchLabels", {}).items()
                or not p
                for p in peers
            ):
                return True
    return False


@pytest.mark.parametrize("target", list(TARGETS))
def test_scraped_pods_say_so_and_let_the_monitoring_namespace_in(target: str):
    docs = render(target)
    workloads = _workloads(docs)
    for name, (port, path) in SCRAPED.items():
        template = workloads[name]["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true", name
        assert annotations["prometheus.io/port"] == str(_port(template, port)), name
        assert annotations["prometheus.io/path"] == path, name
        assert _monitoring_may_reach(docs, template["metadata"]["labels"], port), name


def test_prod_monitors_scrape_the_same_ports_and_paths():
    docs = render("prod")
    workloads = _workloads(docs)
    services = by_kind(docs, "Service")
    covered: dict[str, tuple[str, str]] = {}
    for monitor in by_kind(docs, "ServiceMonitor").values():
        spec = monitor["spec"]
        for service_name, service in services.items():
            if _selects(spec["selector"], service["metadata"].get("labels", {})):
                (endpoint,) = spec["endpoints"]
                assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
                covered[service_name] = (endpoint["port"], endpoint["path"])
    for monitor in by_kind(docs, "PodMonitor").values():
        spec = monitor["spec"]
        for name, workload in workloads.items():
            template = workload["spec"]["template"]
            if _selects(spec["selector"], template["metadata"]["labels"]):
                (endpoint,) = spec["podMetricsEndpoints"]
                _port(template, endpoint["port"])  # a named port of the pod
                covered[name] = (endpoint["port"], endpoint["path"])
    assert covered == SCRAPED
    # Every domain's Service points its metrics port at the pod's.
    for domain in registry.names():
        ports = {p["name"]: p["targetPort"] for p in one(docs, "Service", domain)["spec"]["ports"]}
        assert ports["metrics"] == "metrics"


def test_the_nats_exporter_reads_its_own_servers_monitor():
    (nats,) = by_kind(render("base"), "StatefulSet").values()
    containers = {c["name"]: c for c in nats["spec"]["template"]["spec"]["containers"]}
    monitor = _port(nats["spec"]["template"], "monitor")
    exporter = containers["metrics"]
    assert exporter["args"][-1] == f"http://localhost:{monitor}"
    assert f"-port={_port(nats['spec']['template'], 'metrics')}" in exporter["args"]
    assert {"-varz", "-jsz=all"} <= set(exporter["args"])
