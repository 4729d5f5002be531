"""The kit's system and API figures and alerts in every service's detailed health, over REST
through Envoy (GET /api/v1/health/{service}), and the mesh-wide views for admins
(GET /api/v1/health, /api/v1/monitoring/{system,api,alerts}) and backups (/api/v1/backups)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import sign_in
from tests.e2e.test_webhooks import admin
from tools import mesh_backup
from tools.mesh import Mesh
from voka import registry

pytestmark = pytest.mark.integration


def test_detailed_health_shows_system_and_api_figures(rest: httpx.Client):
    reply = rest.get("/api/v1/health/translate")
    assert reply.status_code == 200, reply.text
    health = reply.json()["health"]
    system = health["system"]
    assert 0 < system["memoryPercent"] <= 100
    assert 0 < system["diskPercent"] <= 100
    assert 0 <= system["cpuPercent"] <= 100
    assert "sampleTime" in system
    assert health["api"]["window"] == "60s"
    assert isinstance(health["alerts"], list)  # what fires depends on the machine


MESH_VIEWS = (
    "/api/v1/health",
    "/api/v1/monitoring/system",
    "/api/v1/monitoring/api",
    "/api/v1/monitoring/alerts",
)


def test_admins_read_the_health_of_every_service(rest: httpx.Client, mesh: Mesh):
    reply = rest.get("/api/v1/health", headers=admin(rest, mesh))
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [s["service"] for s in body["services"]] == list(registry.names())
    for report in body["services"]:
        assert report["error"] == "", report
        health = report["health"]
        assert health["status"] == "SERVING_STATUS_SERVING", report
        assert health["version"]
        assert {d["name"] for d in health["dependencies"]} >= {"nats"}
    assert body["status"] == "SERVING_STATUS_SERVING"


LOGIN = "/voka.auth.v1.AuthService/Login"


def test_admins_read_per_rpc_figures_of_every_service(rest: httpx.Client, mesh: Mesh):
    headers = admin(rest, mesh)  # signs in: a call of auth's Login
    # The figures are the health loop's, a round (5 s) later; waiting on auth's own health
    # keeps the mesh view to one call (kinect's tight rate limit counts every call).
    deadline = time.monotonic() + 20
    while LOGIN not in _methods(rest.get("/api/v1/health/auth", headers=headers).json()["health"]):
        assert time.monotonic() < deadline, "auth's health never showed the login"
        time.sleep(0.5)
    reply = rest.get("/api/v1/monitoring/api", headers=headers)
    assert reply.status_code == 200, reply.text
    reports = reply.json()["services"]
    assert [r["service"] for r in reports] == list(registry.names())
    assert all(r["error"] == "" for r in reports), reports
    auth = {r["service"]: r["health"] for r in reports}["auth"]
    assert _methods(auth)[LOGIN] >= 1
    assert not auth.get("dependencies")  # the API view only


def _methods(health: dict[str, Any]) -> dict[str, int]:
    return {m["method"]: m["calls"] for m in health["api"].get("methods", [])}


def test_the_mesh_views_are_for_admins_only(rest: httpx.Client):
    user = sign_in(rest)
    for path in MESH_VIEWS:
        assert rest.get(path, headers=user).status_code == 403, path
        assert rest.get(path).status_code == 401, path


def test_admins_read_the_recent_errors_of_each_service(rest: httpx.Client, mesh: Mesh):
    headers = admin(rest, mesh)
    for service in registry.names():
        reply = rest.get(f"/api/v1/monitoring/{service}/errors", headers=headers)
        assert reply.status_code == 200, reply.text
        assert isinstance(reply.json()["entries"], list)
    assert rest.get("/api/v1/monitoring/auth/errors", headers=sign_in(rest)).status_code == 403


def test_only_admins_may_drain_a_service(rest: httpx.Client):
    reply = rest.post("/api/v1/health/auth:drain", json={}, headers=sign_in(rest))
    assert reply.status_code == 403, reply.text
    assert rest.post("/api/v1/health/auth:drain", json={}).status_code == 401
    assert rest.get("/api/v1/health/auth").json()["health"]["status"] == "SERVING_STATUS_SERVING"


def test_a_drained_service_stops_and_is_started_again(rest: httpx.Client, mesh: Mesh):
    """An admin's drain stops the replica cleanly; `make up`'s supervisor (`Mesh.revive`, as
    Kubernetes restarts a pod) starts it again, and Envoy reaches the new process."""
    headers = admin(rest, mesh)
    reply = rest.post("/api/v1/health/meetings:drain", json={}, headers=headers)
    assert reply.status_code == 200, reply.text
    deadline = time.monotonic() + 30
    revived: list[str] = []
    while not revived:
        assert time.monotonic() < deadline, "the drained service did not stop"
        time.sleep(0.2)
        revived = mesh.revive()
    assert revived == ["meetings"]
    assert not [name for name, _ in mesh.exited() if name == "meetings"]
    while (health := rest.get("/api/v1/health/meetings")).status_code != 200:
        assert time.monotonic() < deadline + 30, health.text  # Envoy reconnects to the new one
        time.sleep(0.2)
    assert health.json()["health"]["status"] == "SERVING_STATUS_SERVING"
    # Peers see it again too (their channels reconnect after a backoff): the mesh view, which
    # auth gathers from every service, lists it SERVING.
    while _mesh_status(rest, headers, "meetings") != "SERVING_STATUS_SERVING":
        assert time.monotonic() < deadline + 60, "the mesh view does not see meetings again"
        time.sleep(0.5)


def _mesh_status(rest: httpx.Client, headers: dict[str, str], service: str) -> str:
    reply = rest.get("/api/v1/health", headers=headers)
    assert reply.status_code == 200, reply.text
    [report] = [r for r in reply.json()["services"] if r["service"] == service]
    return str(report.get("health", {}).get("status", report.get("error", "")))


def test_admins_back_up_every_database_through_envoy(
    rest: httpx.Client, mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """The backup CronJob's command (k8s/base/ops/backup-cronjob.yaml) with an admin's API
    key, then one service's list; a user is refused both."""
    headers = admin(rest, mesh)
    key = rest.post("/api/v1/users/me/api-keys", json={"displayName": "backups"}, headers=headers)
    assert key.status_code == 200, key.text
    key_file = tmp_path / "api-key"
    key_file.write_text(key.json()["secret"] + "\n")
    assert mesh_backup.main(["--url", mesh.rest_url, "--api-key-file", str(key_file)]) == 0
    printed = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert set(printed) == {n for n in registry.names() if registry.declaration(n).migrations}
    listed = rest.get("/api/v1/backups/meetings", headers=headers)
    assert listed.status_code == 200, listed.text
    newest = listed.json()["backups"][0]
    assert printed["meetings"].startswith(f"{newest['file']} ({newest['sizeBytes']} bytes)")
    assert (mesh.var / "backups" / newest["file"]).is_file()

    user = sign_in(rest)
    assert rest.get("/api/v1/backups/meetings", headers=user).status_code == 403
    key_file.write_text(user["authorization"].removeprefix("Bearer "))  # not an API key
    assert mesh_backup.main(["--url", mesh.rest_url, "--api-key-file", str(key_file)]) == 1
    assert rest.post("/api/v1/backups", json={}, headers=user).status_code == 403
