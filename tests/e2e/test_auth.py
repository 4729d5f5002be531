"""Auth through Envoy's REST routes, with every other service verifying the tokens it issues
(the mesh's services fetch the auth service's JWKS; none has a key file)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.integration


def _account() -> dict[str, str]:
    name = f"u{uuid.uuid4().hex[:10]}"
    return {"username": name, "email": f"{name}@Example.COM", "password": "pw-" + name * 2}


def _login(rest: httpx.Client, account: dict[str, str]) -> httpx.Response:
    credentials = {"username": account["username"], "password": account["password"]}
    return rest.post("/api/v1/auth/login", json=credentials)


def test_register_login_me_refresh_logout(rest: httpx.Client):
    account = _account()
    registered = rest.post("/api/v1/auth/register", json=account)
    assert registered.status_code == 200
    assert registered.json()["user"]["email"] == account["email"].lower()
    tokens = _login(rest, account).json()
    me = rest.get(
        "/api/v1/users/me",
        headers={"authorization": f"Bearer {tokens['accessToken']}"},
    )
    assert me.status_code == 200
    assert me.json()["user"]["username"] == account["username"]
    refreshed = rest.post("/api/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert refreshed.status_code == 200
    reused = rest.post("/api/v1/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert reused.status_code == 401  # reuse detected: the whole family is revoked
    assert reused.json()["code"] == 16


def test_duplicate_registration_is_409(rest: httpx.Client):
    account = _account()
    assert rest.post("/api/v1/auth/register", json=account).status_code == 200
    again = rest.post("/api/v1/auth/register", json=account)
    assert again.status_code == 409
    assert again.json()["code"] == 6


def test_registration_validation_is_400_naming_fields(rest: httpx.Client):
    reply = rest.post(
        "/api/v1/auth/register",
        json={"username": "", "email": "not-an-email", "password": "x"},
    )
    assert reply.status_code == 400
    fields = {
        v["field"]
        for d in reply.json()["details"]
        if d["@type"].endswith("BadRequest")
        for v in d["fieldViolations"]
    }
    assert {"username", "email", "password"} <= fields


def test_wrong_password_is_401(rest: httpx.Client):
    account = _account()
    rest.post("/api/v1/auth/register", json=account)
    reply = _login(rest, {**account, "password": "wrong-password"})
    assert reply.status_code == 401


def test_jwks_is_public_and_lists_the_signing_key(rest: httpx.Client):
    jwks = rest.get("/api/v1/auth/jwks").json()
    assert jwks["keys"]
    assert {k["kty"] for k in jwks["keys"]} == {"OKP"}


def test_non_admin_on_admin_route_is_403(rest: httpx.Client):
    reply = rest.get("/api/v1/admin/users", headers=sign_in(rest))
    assert reply.status_code == 403
    assert reply.json()["code"] == 7


def test_another_users_account_is_404(rest: httpx.Client):
    alice = sign_in(rest)
    bob_me = rest.get("/api/v1/users/me", headers=sign_in(rest)).json()
    reply = rest.get(f"/api/v1/{bob_me['user']['name']}", headers=alice)
    assert reply.status_code == 404


def test_token_from_auth_is_accepted_by_another_service(rest: httpx.Client):
    reply = rest.get("/api/v1/translate/translations", headers=sign_in(rest))
    assert reply.status_code == 200


def test_forged_token_is_401_at_another_service(rest: httpx.Client):
    headers = {"authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}
    reply = rest.get("/api/v1/translate/translations", headers=headers)
    assert reply.status_code == 401
