"""Envoy as the cluster runs it, for real: the shipped envoy.json with the pod's files laid out
as the Envoy Deployment lays them out (tests/k8s/test_manifests.py `edge_files_at`), on free
ports. It answers the OpenAPI document from the file the init container unpacks, and its
statistics for Prometheus on the metrics port, which passes nothing else to the admin interface
(that interface can also stop Envoy)."""

from __future__ import annotations

import json
import random
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway import openapi
from gateway.config import OPENAPI_PATH, STAT_PREFIX
from gateway.web import INDEX_FILE, WEB_DIST, asset_files
from tests.k8s.test_manifests import BIN, edge_files_at, one, render
from tools import k8s_gateway
from tools.k8s_monitoring import ENVOY_METRICS
from tools.processes import exited_with_log, free_ports, stop, wait_http
from voka import registry


@dataclass(frozen=True)
class Edge:
    listener: str
    metrics: str


def _on_ports(text: str, listen: int, admin: int, metrics: int) -> str:
    """The config on loopback and free ports: the edge, the admin interface, the metrics
    listener and the cluster that passes the metrics listener's requests to the admin."""
    config = json.loads(text)
    config["admin"]["address"]["socket_address"]["port_value"] = admin
    ports = {STAT_PREFIX: listen, "voka_metrics": metrics}
    for listener in config["static_resources"]["listeners"]:
        listener["address"]["socket_address"] = {
            "address": "127.0.0.1",
            "port_value": ports[listener["name"]],
        }
    (cluster,) = [
        c for c in config["static_resources"]["clusters"] if c["name"] == k8s_gateway.ADMIN_CLUSTER
    ]
    (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
    endpoint["endpoint"]["address"]["socket_address"]["port_value"] = admin
    return json.dumps(config)


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    directory = tmp_path_factory.mktemp("edge")
    listen, admin, metrics = free_ports(3)
    config = directory / "envoy.json"
    config.write_text(_on_ports(edge_files_at(directory), listen, admin, metrics))
    log = directory / "envoy.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "envoy"), "-c", str(config), "--base-id",
             str(random.randint(10_000, 60_000)), "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        metrics_url = f"http://127.0.0.1:{metrics}{k8s_gateway.METRICS_PATH}"
        wait_http(metrics_url, exited_with_log("envoy", proc, log))
        yield Edge(f"http://127.0.0.1:{listen}", metrics_url)
    finally:
        stop(proc)


def _get(url: str, method: str = "GET") -> tuple[int, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_openapi_document_is_served_from_the_unpacked_file(edge: Edge):
    status, body = _get(edge.listener + OPENAPI_PATH)
    assert status == 200
    served = json.loads(body)
    assert served == openapi.document(k8s_gateway.DESCRIPTOR_SET, registry.names())
    # Comments come from the source info Envoy's descriptor set no longer has.
    assert any("description" in op for path in served["paths"].values() for op in path.values())


def test_the_init_container_command_unpacks_the_archive(tmp_path: Path):
    """The init container's own shell line, on the shipped archive, paths pointed here."""
    spec = one(render("base"), "Deployment", "envoy")["spec"]["template"]["spec"]
    (unpack,) = spec["initContainers"]
    shell, flag, line = unpack["command"]
    assert (shell, flag) == ("sh", "-c")
    for archive in (k8s_gateway.OPENAPI_ARCHIVE, k8s_gateway.WEB_ARCHIVE):
        (tmp_path / archive).write_bytes((k8s_gateway.GATEWAY_DIR / archive).read_bytes())
    # The docs directory first: the mount directory's path is a prefix of it.
    line = line.replace(str(k8s_gateway.DOCS_DIR), str(tmp_path))
    line = line.replace(str(k8s_gateway.MOUNT_DIR), str(tmp_path))
    subprocess.run([shell, flag, line], check=True, timeout=30)
    document = json.loads((tmp_path / k8s_gateway.OPENAPI_FILE).read_text())
    assert document == openapi.document(k8s_gateway.DESCRIPTOR_SET, registry.names())
    unpacked = tmp_path / k8s_gateway.WEB_DIR.name
    assert {p.relative_to(unpacked).as_posix() for p in unpacked.rglob("*") if p.is_file()} == {
        str(f) for f in asset_files(WEB_DIST)
    }


def test_the_console_is_served_from_the_unpacked_files(edge: Edge):
    status, body = _get(edge.listener + "/")
    assert status == 200
    assert body == (WEB_DIST / INDEX_FILE).read_bytes()
    assets = [f for f in asset_files(WEB_DIST) if f.parts[0] == "assets"]
    assert assets
    for asset in assets:
        status, body = _get(f"{edge.listener}/{asset}")
        assert (status, body) == (200, (WEB_DIST / asset).read_bytes()), asset


def test_statistics_are_scraped_on_the_metrics_port(edge: Edge):
    status, body = _get(edge.metrics)
    assert status == 200
    exported = {
        line.split()[2] for line in body.decode().splitlines() if line.startswith("# TYPE ")
    }
    # The names the dashboard and the alerts read of Envoy (tools/k8s_monitoring.py).
    assert set(ENVOY_METRICS) <= exported, set(ENVOY_METRICS) - exported


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/config_dump"),
        ("GET", "/stats"),
        ("POST", "/quitquitquit"),
        ("POST", k8s_gateway.METRICS_PATH),
    ],
)
def test_the_metrics_port_passes_nothing_else_to_the_admin_interface(
    edge: Edge, method: str, path: str
):
    metrics_root = edge.metrics.removesuffix(k8s_gateway.METRICS_PATH)
    status, _ = _get(metrics_root + path, method)
    assert status == 404
    assert _get(edge.metrics)[0] == 200  # still up
