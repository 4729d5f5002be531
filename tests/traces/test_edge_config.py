"""Envoy's tracing, as the generator writes it: off unless a collector is named; on, the
OpenTelemetry tracer on the connection manager exporting to a cluster of the collector, which
Envoy accepts; and the collector found from the variables the services read."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import (
    OTLP_CLUSTER,
    TRACING_SERVICE_NAME,
    Tracing,
    build_config,
    tracing_from_env,
    write_config,
)
from tests.gateway.test_config import (
    DESCRIPTOR_SET,
    UPSTREAMS,
    envoy_validate,
    free_port,
    hcm,
)


def _clusters(config: dict) -> dict[str, dict]:
    return {c["name"]: c for c in config["static_resources"]["clusters"]}


def test_no_tracing_unless_a_collector_is_named():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    assert "tracing" not in hcm(config)
    assert OTLP_CLUSTER not in _clusters(config)


def test_the_opentelemetry_tracer_exports_to_the_collector_cluster():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS, tracing=Tracing("otel-collector:4317", 25))
    tracing = hcm(config)["tracing"]
    assert tracing["random_sampling"] == {"value": 25}
    assert tracing["provider"]["name"] == "envoy.tracers.opentelemetry"
    provider = tracing["provider"]["typed_config"]
    assert provider["grpc_service"]["envoy_grpc"] == {"cluster_name": OTLP_CLUSTER}
    assert provider["service_name"] == TRACING_SERVICE_NAME
    cluster = _clusters(config)[OTLP_CLUSTER]
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "otel-collector",
        "port_value": 4317,
    }
    assert cluster["type"] == "STRICT_DNS"
    assert "http2_protocol_options" in str(cluster["typed_extension_protocol_options"])
    assert "health_checks" not in cluster  # a collector serves no grpc.health.v1


def test_envoy_accepts_the_tracing_config(tmp_path: Path):
    path = tmp_path / "envoy.json"
    write_config(path, DESCRIPTOR_SET, UPSTREAMS, listen_port=free_port(),
                 admin_port=free_port(), tracing=Tracing("127.0.0.1:4317"))  # fmt: skip
    result = envoy_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("percent", [-1, 100.5])
def test_sampling_is_a_percentage(percent: float):
    with pytest.raises(ValueError, match="sample_percent"):
        build_config(DESCRIPTOR_SET, UPSTREAMS, tracing=Tracing("127.0.0.1:4317", percent))


@pytest.mark.parametrize(
    ("variables", "collector"),
    [
        ({}, None),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, "127.0.0.1:4317"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector"}, "otel-collector:4317"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:14317"}, "collector:14317"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1]:4317"}, "[::1]:4317"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://b:4317",
            },
            "b:4317",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4317", "OTEL_TRACES_EXPORTER": "none"},
            None,
        ),
    ],
)
def test_the_collector_comes_from_the_services_variables(
    variables: dict[str, str], collector: str | None
):
    tracing = tracing_from_env(variables)
    assert (tracing and tracing.collector) == collector
