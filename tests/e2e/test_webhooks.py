"""Webhooks through Envoy's REST mapping, as `make up` runs them: admin-only routes, the secret
shown once, field violations as 400, rotate, deliveries, delete."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from services.auth.cli import create_admin
from services.auth.settings import AuthSettings
from tests.e2e.conftest import sign_in
from tools.mesh import Mesh

pytestmark = pytest.mark.integration
HOOK = {"targetUri": "https://hooks.example.com/voka", "eventSubjects": ["voka.meetings.>"]}


def admin(rest: httpx.Client, mesh: Mesh) -> dict[str, str]:
    """An admin made the way an operator makes one (the CLI's function, on auth's database)."""
    name, password = f"admin{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    settings = AuthSettings(service="auth", data_dir=mesh.var)
    asyncio.run(create_admin(settings, name, f"{name}@example.com", password))
    login = rest.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert login.status_code == 200, login.text
    return {"authorization": f"Bearer {login.json()['accessToken']}"}


def test_webhooks_over_rest(rest: httpx.Client, mesh: Mesh):
    headers = admin(rest, mesh)
    assert rest.post("/api/v1/webhooks", json=HOOK, headers=sign_in(rest)).status_code == 403
    bad = rest.post("/api/v1/webhooks", json={**HOOK, "targetUri": "http://10.0.0.1/"},
                    headers=headers)  # fmt: skip
    assert bad.status_code == 400, bad.text
    fields = [v["field"] for v in bad.json()["details"][0]["fieldViolations"]]
    assert fields == ["webhook.target_uri"]

    made = rest.post("/api/v1/webhooks", json=HOOK, headers=headers)
    assert made.status_code == 200, made.text
    webhook = made.json()["webhook"]
    assert webhook["secret"].startswith("whsec_")
    name = webhook["name"]
    got = rest.get(f"/api/v1/{name}", headers=headers).json()
    assert got["webhook"].get("secret", "") == ""  # never shown again
    assert got["webhook"]["eventSubjects"] == ["voka.meetings.>"]
    rotated = rest.post(f"/api/v1/{name}:rotateSecret", json={}, headers=headers)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["webhook"]["secret"] not in ("", webhook["secret"])
    patched = rest.patch(f"/api/v1/{name}?updateMask=description",
                         json={"description": "crm"}, headers=headers)  # fmt: skip
    assert patched.status_code == 200, patched.text
    assert patched.json()["webhook"]["description"] == "crm"
    listed = rest.get("/api/v1/webhooks", params={"eventSubject": "voka.meetings.client.created"},
                      headers=headers).json()  # fmt: skip
    assert name in [w["name"] for w in listed["webhooks"]]
    deliveries = rest.get(f"/api/v1/{name}/deliveries", headers=headers)
    assert deliveries.status_code == 200, deliveries.text
    assert rest.delete(f"/api/v1/{name}", headers=headers).status_code == 200
    assert rest.get(f"/api/v1/{name}", headers=headers).status_code == 404
