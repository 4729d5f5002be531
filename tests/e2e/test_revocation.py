"""Every access token can be revoked, through the whole mesh as `make up` runs it: a revocation
at auth makes translate refuse, over REST through Envoy, every token issued before it.

Envoy checks only signatures and expiry, so it passes these tokens on; translate refuses them
from its copy of the denylist, fed by auth's events (milliseconds) and reloaded every 30 s
(docs/auth.md). The bound waited for here is the events'; the reload is tested in
tests/kit/test_revocations.py.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.test_webhooks import admin
from tools.mesh import Mesh

pytestmark = pytest.mark.integration

TRANSLATIONS = "/api/v1/translate/translations"
WITHIN = 10.0  # seconds


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def signed_up(rest: httpx.Client) -> dict[str, Any]:
    """A fresh user: its login answer, plus `password`."""
    name, password = f"user{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
    account = {"username": name, "email": f"{name}@example.com", "password": password}
    assert rest.post("/api/v1/auth/register", json=account).status_code == 200
    login = rest.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert login.status_code == 200, login.text
    return {**login.json(), "password": password}


def session_tokens(rest: httpx.Client, login: dict[str, Any]) -> list[str]:
    """The login's access token and those of two refreshes of its session."""
    tokens, refresh = [login["accessToken"]], login["refreshToken"]
    for _ in range(2):
        reply = rest.post("/api/v1/auth/refresh", json={"refreshToken": refresh})
        assert reply.status_code == 200, reply.text
        tokens.append(reply.json()["accessToken"])
        refresh = reply.json()["refreshToken"]
    return tokens


def api_key(rest: httpx.Client, token: str) -> tuple[str, str]:
    created = rest.post(
        "/api/v1/users/me/api-keys", json={"displayName": "ci"}, headers=bearer(token)
    )
    assert created.status_code == 200, created.text
    return created.json()["apiKey"]["name"], created.json()["secret"]


def exchanged(rest: httpx.Client, secret: str) -> str:
    reply = rest.post("/api/v1/auth/api-keys:exchange", json={"apiKey": secret})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["accessToken"])


def accepted(rest: httpx.Client, *tokens: str) -> None:
    for token in tokens:
        reply = rest.get(TRANSLATIONS, headers=bearer(token))
        assert reply.status_code == 200, reply.text


def cut_off(rest: httpx.Client, *tokens: str) -> None:
    """translate refuses every one of `tokens` within the bound, as revoked."""
    deadline = time.monotonic() + WITHIN
    for token in tokens:
        while (reply := rest.get(TRANSLATIONS, headers=bearer(token))).status_code == 200:
            assert time.monotonic() < deadline, "translate still accepts a revoked token"
            time.sleep(0.1)
        assert reply.status_code == 401, reply.text
        assert "revoked" in reply.text  # by translate's denylist, not at the edge


def test_logout(rest: httpx.Client):
    tokens = session_tokens(rest, signed_up(rest))
    accepted(rest, *tokens)
    assert rest.post("/api/v1/auth/logout", json={}, headers=bearer(tokens[-1])).status_code == 200
    cut_off(rest, *tokens)


def test_api_key_revocation(rest: httpx.Client):
    login = signed_up(rest)
    name, secret = api_key(rest, login["accessToken"])
    tokens = [exchanged(rest, secret), exchanged(rest, secret)]
    accepted(rest, *tokens)
    revoked = rest.post(f"/api/v1/{name}:revoke", json={}, headers=bearer(login["accessToken"]))
    assert revoked.status_code == 200, revoked.text
    cut_off(rest, *tokens)
    accepted(rest, login["accessToken"])


def test_disabling_a_user(rest: httpx.Client, mesh: Mesh):
    login = signed_up(rest)
    tokens = [*session_tokens(rest, login), exchanged(rest, api_key(rest, login["accessToken"])[1])]
    accepted(rest, *tokens)
    user = login["user"]["name"]
    disabled = rest.post(f"/api/v1/{user}:disable", json={}, headers=admin(rest, mesh))
    assert disabled.status_code == 200, disabled.text
    cut_off(rest, *tokens)


def test_demoting_an_admin(rest: httpx.Client, mesh: Mesh):
    root = admin(rest, mesh)
    login = signed_up(rest)
    user = login["user"]["name"]
    promote = {"role": "ROLE_ADMIN"}
    assert rest.post(f"/api/v1/{user}:setRole", json=promote, headers=root).status_code == 200
    again = rest.post(
        "/api/v1/auth/login",
        json={"username": login["user"]["username"], "password": login["password"]},
    )
    as_admin = again.json()["accessToken"]
    tokens = [as_admin, exchanged(rest, api_key(rest, as_admin)[1])]
    for token in tokens:  # admin rights at auth before the demotion
        assert rest.get("/api/v1/admin/users", headers=bearer(token)).status_code == 200
    accepted(rest, *tokens)
    demote = {"role": "ROLE_USER"}
    assert rest.post(f"/api/v1/{user}:setRole", json=demote, headers=root).status_code == 200
    cut_off(rest, *tokens)


def test_changing_the_password(rest: httpx.Client):
    login = signed_up(rest)
    _, secret = api_key(rest, login["accessToken"])
    tokens = [*session_tokens(rest, login), exchanged(rest, secret)]
    accepted(rest, *tokens)
    changed = rest.post(
        "/api/v1/auth/change-password",
        json={"currentPassword": login["password"], "newPassword": f"pw-{uuid.uuid4().hex}"},
        headers=bearer(tokens[-1]),
    )
    assert changed.status_code == 200, changed.text
    cut_off(rest, *tokens)
    accepted(rest, changed.json()["accessToken"], exchanged(rest, secret))  # the key stays
