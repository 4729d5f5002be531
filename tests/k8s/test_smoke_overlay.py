"""The local overlay `make k8s-smoke` plays (tools/k8s_smoke.py), checked without podman: the
same workloads as the dev overlay, on host networking and local images, with no cluster name
left for a pod to resolve (this machine has no cluster DNS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.k8s import kustomize
from tools import k8s_gateway, k8s_smoke
from tools.mesh import Ports
from voka import registry

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Doc], list[Doc]]:
    dev = kustomize.build(k8s_smoke.OVERLAY)
    urls = {domain: f"postgresql://smoke@127.0.0.1/{domain}" for domain in registry.names()}
    local = k8s_smoke.Local(Ports.free(), k8s_smoke.local_secrets(urls),
                            tmp_path_factory.mktemp("smoke"))  # fmt: skip
    return dev, k8s_smoke.local_overlay(dev, local)


def _pods(docs: list[Doc]) -> list[Doc]:
    return [d["spec"]["template"]["spec"] if "template" in d["spec"] else d["spec"]
            for d in docs if d["kind"] in ("Deployment", "Pod")]  # fmt: skip


def test_every_workload_of_the_dev_overlay_is_played(rendered: tuple[list[Doc], list[Doc]]):
    dev, local = rendered
    workloads = {"Deployment", "StatefulSet", "Job"}
    wanted = {d["metadata"]["name"] for d in dev if d["kind"] in workloads}
    wanted -= k8s_smoke.LEFT_OUT_WORKLOADS
    assert {d["metadata"]["name"] for d in local if d["kind"] != "ConfigMap"} == wanted
    assert not {d["kind"] for d in local} & (k8s_smoke.LEFT_OUT | {"Secret", "StatefulSet"})
    assert all("namespace" not in d["metadata"] for d in local)  # podman plays no namespaces


def test_pods_use_host_networking_and_local_images(rendered: tuple[list[Doc], list[Doc]]):
    for pod in _pods(rendered[1]):
        assert pod["hostNetwork"] is True
        for container in pod["containers"]:
            assert container["image"].startswith("localhost/"), container["image"]
            assert container["imagePullPolicy"] == "Never"
            assert "readinessProbe" not in container


def test_no_cluster_name_is_left_to_resolve(rendered: tuple[list[Doc], list[Doc]]):
    for doc in rendered[1]:
        values = [str(var.get("value", "")) for pod in _pods([doc]) if doc["kind"] != "ConfigMap"
                  for c in pod["containers"] for var in c.get("env", [])]  # fmt: skip
        if doc["kind"] == "ConfigMap":
            values = [line for text in doc.get("data", {}).values() for line in text.splitlines()
                      if not line.lstrip().startswith("#")]  # fmt: skip
        assert not [v for v in values if k8s_smoke.CLUSTER_SUFFIX in v], doc["metadata"]["name"]


def test_only_the_config_maps_a_pod_reads_are_kept(rendered: tuple[list[Doc], list[Doc]]):
    kept = {d["metadata"]["name"] for d in rendered[1] if d["kind"] == "ConfigMap"}
    assert any(name.startswith("voka-env-") for name in kept)  # kustomize's hashed name
    for doc in rendered[1]:
        if doc["kind"] != "ConfigMap":
            assert k8s_smoke._config_maps_of(doc) <= kept


def test_the_ws_bridge_listens_where_envoy_sends_sockets(tmp_path: Path):
    local = k8s_smoke.Local(Ports.free(), k8s_smoke.local_secrets({}), tmp_path)
    docs = k8s_smoke.local_overlay(kustomize.build(k8s_smoke.OVERLAY), local)
    bridge = next(d for d in docs if d["metadata"]["name"] == "ws-bridge")
    env = {v["name"]: v["value"] for c in _pods([bridge])[0]["containers"] for v in c["env"]}
    assert env["VOKA_WS_PORT"] == str(local.ports.ws_bridge)
    k8s_smoke.write(docs, local)
    config = (tmp_path / k8s_smoke.ENVOY_DIR / k8s_gateway.CONFIG_FILE).read_text()
    assert f'"port_value": {local.ports.ws_bridge}' in config
    assert k8s_smoke.CLUSTER_SUFFIX not in config
    assert (tmp_path / k8s_smoke.ENVOY_DIR / "docs" / "web" / "index.html").is_file()
