"""The OpenTelemetry Collector in k8s/: every process and Envoy send their spans to its Service,
the network policies let exactly them in, and its pipeline is whole (each component it names is
defined, the ports it listens on are the ones the pod, the Service and the probes use)."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.config import OTLP_CLUSTER, STAT_PREFIX, tracing_from_env
from tests.k8s.test_manifests import (
    TARGETS,
    Doc,
    _allowed,
    generated,
    one,
    render,
    shared_env,
    worker_pools,
)
from tools import k8s_gateway
from voka import registry

NAME = k8s_gateway.COLLECTOR_SERVICE


@pytest.fixture(params=list(TARGETS))
def docs(request: pytest.FixtureRequest) -> list[Doc]:
    return render(str(request.param))


def _collector(docs: list[Doc]) -> Doc:
    (only,) = one(docs, "Deployment", NAME)["spec"]["template"]["spec"]["containers"]
    return dict(only)


def _pipeline(docs: list[Doc]) -> Doc:
    return dict(yaml.safe_load(generated(docs, "otel-collector-config")["data"]["config.yaml"]))


def test_services_export_to_the_collectors_service(docs: list[Doc]):
    endpoint = urlsplit(shared_env(docs)["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert endpoint.scheme == "http"  # plain text inside the namespace, as every other call
    service = one(docs, "Service", endpoint.hostname or "")["spec"]
    assert service["selector"] == {"app.kubernetes.io/name": NAME}
    (port,) = [p for p in service["ports"] if p["port"] == endpoint.port]
    assert port["targetPort"] == "otlp-grpc"
    ports = {p["name"]: p["containerPort"] for p in _collector(docs)["ports"]}
    assert ports["otlp-grpc"] == endpoint.port


def test_envoy_exports_to_the_same_collector(docs: list[Doc]):
    config = json.loads((k8s_gateway.GATEWAY_DIR / k8s_gateway.CONFIG_FILE).read_text())
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    (endpoint,) = clusters[OTLP_CLUSTER]["load_assignment"]["endpoints"][0]["lb_endpoints"]
    address = endpoint["endpoint"]["address"]["socket_address"]
    host, namespace = address["address"].split(".")[:2]
    expected = tracing_from_env(shared_env(docs))  # the services' endpoint
    assert expected is not None
    assert f"{host}:{address['port_value']}" == expected.collector
    assert namespace == k8s_gateway.NAMESPACE
    (listener,) = [
        listener
        for listener in config["static_resources"]["listeners"]
        if listener["name"] == STAT_PREFIX
    ]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["tracing"]["provider"]["name"] == "envoy.tracers.opentelemetry"


def test_the_pipeline_is_whole_and_listens_where_the_pod_says(docs: list[Doc]):
    pipeline = _pipeline(docs)
    traces = pipeline["service"]["pipelines"]["traces"]
    for kind in ("receivers", "processors", "exporters"):
        assert set(traces[kind]) <= set(pipeline[kind]), kind
    assert set(pipeline["service"]["extensions"]) <= set(pipeline["extensions"])
    assert traces["processors"][0] == "memory_limiter"  # first, so it can refuse load
    ports = {p["name"]: p["containerPort"] for p in _collector(docs)["ports"]}
    grpc = pipeline["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc == f"0.0.0.0:{ports['otlp-grpc']}"
    assert pipeline["extensions"]["health_check"]["endpoint"] == f"0.0.0.0:{ports['health']}"
    collector = _collector(docs)
    for probe in ("readinessProbe", "livenessProbe"):
        assert collector[probe]["httpGet"]["port"] == "health"


def test_the_collector_reads_its_generated_config(docs: list[Doc]):
    spec = one(docs, "Deployment", NAME)["spec"]["template"]["spec"]
    collector = _collector(docs)
    (mount,) = collector["volumeMounts"]
    assert collector["args"] == [f"--config={mount['mountPath']}/config.yaml"]
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    config_map = generated(docs, "otel-collector-config")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]


def test_only_the_mesh_may_send_spans(docs: list[Doc]):
    for source in [*registry.names(), "envoy", *worker_pools(docs)]:
        assert _allowed(docs, source, NAME, "otlp-grpc"), source
    assert not _allowed(docs, "nats", NAME, "otlp-grpc")
    assert not _allowed(docs, NAME, "auth", "grpc")
