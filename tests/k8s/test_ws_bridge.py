"""The WebSocket bridge on Kubernetes (base/services/ws-bridge.yaml): the kit's image running
`python -m gateway.ws_bridge`, probed on its `/health`, reached by Envoy at the address the
generated Envoy config names, and by nothing else but Prometheus; it reaches the services it
streams to."""

from __future__ import annotations

import json

import pytest

from gateway.config import WS_CLUSTER
from gateway.ws_bridge.settings import DEFAULT_PORT
from tests.k8s.test_manifests import TARGETS, _allowed, container, generated, one, render
from tools import k8s_gateway

NAME = "ws-bridge"


@pytest.fixture(params=list(TARGETS))
def docs(request: pytest.FixtureRequest) -> list[dict]:
    return render(str(request.param))


def test_the_bridge_runs_from_the_kits_image_with_its_config_map(docs: list[dict]):
    c = container(docs, NAME)
    assert c["image"].split("/")[-1].split(":")[0] == "voka"
    assert c["command"] == ["python", "-m", "gateway.ws_bridge"]
    assert [e["configMapRef"]["name"] for e in c["envFrom"]] == [
        generated(docs, "voka-env")["metadata"]["name"]
    ]
    env = {e["name"]: e["value"] for e in c["env"]}
    assert env["VOKA_WS_HOST"] == "0.0.0.0"
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"ws": DEFAULT_PORT}
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "ws"}, probe


def test_envoy_reaches_the_bridge_where_its_service_listens(docs: list[dict]):
    spec = one(docs, "Service", NAME)["spec"]
    assert spec["clusterIP"] == "None"
    assert [(p["name"], p["port"]) for p in spec["ports"]] == [("ws", DEFAULT_PORT)]
    envoy = json.loads((k8s_gateway.GATEWAY_DIR / k8s_gateway.CONFIG_FILE).read_text())
    (cluster,) = [c for c in envoy["static_resources"]["clusters"] if c["name"] == WS_CLUSTER]
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    address = endpoint["address"]["socket_address"]
    assert address == {"address": f"{NAME}.voka.svc.cluster.local", "port_value": DEFAULT_PORT}


def test_only_envoy_opens_sockets_and_the_bridge_reaches_its_services(docs: list[dict]):
    assert _allowed(docs, "envoy", NAME, "ws")
    assert not _allowed(docs, "auth", NAME, "ws")
    assert not _allowed(docs, "nats", NAME, "ws")
    for domain in ("assistant", "speech"):
        assert _allowed(docs, NAME, domain, "grpc")
