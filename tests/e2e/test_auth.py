"""Auth through Envoy's REST routes, with every other service verifying the tokens it issues
(the mesh's services fetch the auth service's JWKS; none has a key file)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import grpc
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.keys import KeyRing
from services.auth.tokens import TokenIssuer
from tests.e2e.conftest import sign_in
from tools.mesh import ROOT, Mesh
from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka.errors import VokaError
from voka.service_identity import ServiceIdentity, interceptors, issue_via_auth
from voka.translate.v1 import translate_pb2, translate_pb2_grpc

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


def test_logged_out_token_is_refused_by_another_service(rest: httpx.Client):
    """Envoy still passes the token (its signature and expiry are fine): translate must refuse
    it from its own copy of the denylist, fed by the auth service's revocation events."""
    headers = sign_in(rest)
    assert rest.get("/api/v1/translate/translations", headers=headers).status_code == 200
    assert rest.post("/api/v1/auth/logout", json={}, headers=headers).status_code == 200
    deadline = time.monotonic() + 5
    while (reply := rest.get("/api/v1/translate/translations", headers=headers)).status_code == 200:
        assert time.monotonic() < deadline, "translate still accepts the logged-out token"
        time.sleep(0.1)
    assert reply.status_code == 401
    assert "Jwt" not in reply.text  # refused by the service, not at the edge
    assert "revoked" in reply.text


def test_forged_token_is_401_at_another_service(rest: httpx.Client):
    headers = {"authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}
    reply = rest.get("/api/v1/translate/translations", headers=headers)
    assert reply.status_code == 401


# --- Envoy's jwt_authn at the edge ------------------------------------------------------------
# Envoy's own refusals say "Jwt ..." (the services word theirs differently), so these tell the
# edge apart from the service behind it.

PROTECTED_ROUTES = ["/api/v1/users/me", "/api/v1/translate/translations", "/api/v1/admin/users"]
PUBLIC_ROUTES = [
    "/api/v1/auth/jwks",
    "/api/v1/translate/languages",
    "/api/v1/translate/language-pairs",
    "/api/v1/health/auth",
    "/health",
]


def _signed(
    mesh: Mesh, not_after: float | None = None, key: Ed25519PrivateKey | None = None
) -> str:
    """An access token from the mesh's own key ring (or `key`, under the ring's kid)."""
    ring = KeyRing.open(mesh.var / "auth" / "keys", retire_after=900)
    if key is None:
        return TokenIssuer(ring, 900).issue("users/nobody", ["user"], not_after=not_after).token
    claims = {"iss": "voka-auth", "aud": "voka", "sub": "users/x", "jti": "j", "iat": 1}
    claims["exp"] = int(time.time()) + 600
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": ring.current.kid})


def _refused_at_edge(reply: httpx.Response, message: str) -> None:
    assert reply.status_code == 401, reply.text
    assert reply.json() == {"code": 16, "message": message, "details": []}
    assert reply.headers["content-type"] == "application/json"


@pytest.mark.parametrize("path", PROTECTED_ROUTES)
def test_protected_route_without_token_is_refused_by_envoy(rest: httpx.Client, path: str):
    _refused_at_edge(rest.get(path), "Jwt is missing")


def test_protected_binding_beside_public_ones_is_refused_by_envoy(rest: httpx.Client):
    """Logout shares /api/v1/auth/ with login, register and refresh."""
    _refused_at_edge(rest.post("/api/v1/auth/logout", json={}), "Jwt is missing")


def test_expired_token_is_refused_by_envoy(rest: httpx.Client, mesh: Mesh):
    token = _signed(mesh, not_after=time.time() - 300)  # beyond Envoy's 60 s clock skew
    reply = rest.get("/api/v1/users/me", headers={"authorization": f"Bearer {token}"})
    _refused_at_edge(reply, "Jwt is expired")


def test_token_signed_by_another_key_is_refused_by_envoy(rest: httpx.Client, mesh: Mesh):
    token = _signed(mesh, key=Ed25519PrivateKey.generate())
    reply = rest.get("/api/v1/users/me", headers={"authorization": f"Bearer {token}"})
    _refused_at_edge(reply, "Jwt verification fails")


def test_alg_none_token_is_refused_by_envoy(rest: httpx.Client):
    headers = {"authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}
    reply = rest.get("/api/v1/users/me", headers=headers)
    assert reply.status_code == 401
    assert reply.json()["message"].startswith("Jwt")


@pytest.mark.parametrize("path", PUBLIC_ROUTES)
def test_public_routes_need_no_token(rest: httpx.Client, path: str):
    assert rest.get(path).status_code == 200


def test_public_variable_binding_needs_no_token(rest: httpx.Client):
    """GET /api/v1/{name=voices/*} is public: Envoy lets it through to speech, which answers
    (whatever it answers, it is not the edge's 401)."""
    for path in ("/api/v1/voices/no-such-voice", "/api/v1/voices"):
        reply = rest.get(path)
        assert reply.status_code != 401, reply.text


def test_login_and_register_need_no_token(rest: httpx.Client):
    assert sign_in(rest)["authorization"].startswith("Bearer ")


def test_cors_preflight_needs_no_token(rest: httpx.Client):
    headers = {
        "origin": "https://app.example",
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
    }
    reply = rest.options("/api/v1/users/me", headers=headers)
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] == "https://app.example"


def test_token_signed_by_the_ring_but_not_issued_passes_the_edge_only(
    rest: httpx.Client, mesh: Mesh
):
    """Envoy checks signature and expiry; the service still decides (no such user here)."""
    token = _signed(mesh)
    reply = rest.get("/api/v1/translate/translations", headers={"authorization": f"Bearer {token}"})
    assert reply.status_code == 200


def test_unknown_path_is_still_404_not_401(rest: httpx.Client):
    reply = rest.get("/api/v1/no-such-thing")
    assert reply.status_code == 404


def test_native_grpc_through_envoy_is_checked_at_the_edge(rest: httpx.Client, mesh: Mesh):
    token = sign_in(rest)["authorization"]
    with grpc.insecure_channel(f"127.0.0.1:{mesh.ports.envoy}") as channel:
        auth = auth_pb2_grpc.AuthServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            auth.GetUser(auth_pb2.GetUserRequest(name="users/me"), timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "Jwt is missing" in (err.value.details() or "")
        me = auth.GetUser(
            auth_pb2.GetUserRequest(name="users/me"),
            metadata=(("authorization", token),),
            timeout=10,
        )
        assert me.user.name.startswith("users/")
        jwks = auth.GetJwks(auth_pb2.GetJwksRequest(), timeout=10)
        assert jwks.keys


# --- service identity ---------------------------------------------------------------------------


def test_make_up_gives_each_service_its_own_secret(mesh: Mesh):
    files = {p.name: p for p in (mesh.var / "secrets").iterdir()}
    assert set(files) >= {"auth", "translate", "tasks"}
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in files.values())
    assert len({p.read_text() for p in files.values()}) == len(files)


async def test_service_identity_reaches_service_only_rpcs(mesh: Mesh):
    secret = (mesh.var / "secrets" / "translate").read_text().strip()
    me = ServiceIdentity("translate", secret, issue_via_auth(mesh.service_address("auth")))
    claims = jwt.decode(await me.token(), options={"verify_signature": False})
    assert claims["sub"] == "services/translate"
    assert claims["roles"] == ["service"]
    async with grpc.aio.insecure_channel(
        mesh.service_address("auth"), interceptors=interceptors(me)
    ) as channel:
        reply = await auth_pb2_grpc.AuthServiceStub(channel).ListRevokedTokens(
            auth_pb2.ListRevokedTokensRequest(), timeout=10
        )
    assert reply is not None
    async with grpc.aio.insecure_channel(mesh.service_address("auth")) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await auth_pb2_grpc.AuthServiceStub(channel).ListRevokedTokens(
                auth_pb2.ListRevokedTokensRequest(), timeout=10
            )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_wrong_service_secret_gets_no_token(mesh: Mesh):
    me = ServiceIdentity(
        "translate", "not-its-secret", issue_via_auth(mesh.service_address("auth"))
    )
    with pytest.raises(VokaError):
        await me.token()


# --- API keys at any service ----------------------------------------------------------------

TRANSLATIONS = "/api/v1/translate/translations"


def _api_key(rest: httpx.Client, headers: dict[str, str]) -> dict[str, str]:
    """A new API key of the signed-in user: its resource name and its secret."""
    created = rest.post("/api/v1/users/me/api-keys", json={"displayName": "ci"}, headers=headers)
    assert created.status_code == 200, created.text
    return {"name": created.json()["apiKey"]["name"], "secret": created.json()["secret"]}


def test_api_key_works_at_another_service_through_envoy(rest: httpx.Client):
    owner = sign_in(rest)
    key = _api_key(rest, owner)
    as_bearer = rest.get(TRANSLATIONS, headers={"authorization": f"Bearer {key['secret']}"})
    assert as_bearer.status_code == 200, as_bearer.text
    as_header = rest.get(TRANSLATIONS, headers={"x-api-key": key["secret"]})
    assert as_header.status_code == 200, as_header.text
    me = rest.get("/api/v1/users/me", headers={"x-api-key": key["secret"]}).json()
    listed = rest.get(f"/api/v1/{me['user']['name']}/api-keys", headers=owner).json()
    assert listed["apiKeys"][0]["lastUsedTime"]  # recorded by the auth service on resolution


def test_api_key_gets_its_owners_roles_not_more(rest: httpx.Client):
    key = _api_key(rest, sign_in(rest))
    reply = rest.get("/api/v1/admin/users", headers={"x-api-key": key["secret"]})
    assert reply.status_code == 403


def test_unknown_api_key_passes_the_edge_and_is_refused_by_the_service(rest: httpx.Client):
    reply = rest.get(TRANSLATIONS, headers={"x-api-key": "vk_0000000000no-such-key"})
    assert reply.status_code == 401
    assert "Jwt" not in reply.text  # the edge let it through; translate (via auth) refused it
    assert "API key" in reply.json()["message"]


def test_a_header_that_is_no_api_key_still_needs_a_jwt_at_the_edge(rest: httpx.Client):
    _refused_at_edge(rest.get(TRANSLATIONS, headers={"x-api-key": "guess"}), "Jwt is missing")


def test_jwt_and_api_key_together_are_refused(rest: httpx.Client):
    owner = sign_in(rest)
    key = _api_key(rest, owner)
    reply = rest.get(TRANSLATIONS, headers={**owner, "x-api-key": key["secret"]})
    assert reply.status_code == 401
    assert "not both" in reply.json()["message"]


async def test_api_key_over_grpc_straight_to_a_service(rest: httpx.Client, mesh: Mesh):
    key = _api_key(rest, sign_in(rest))
    async with grpc.aio.insecure_channel(mesh.service_address("translate")) as channel:
        stub = translate_pb2_grpc.TranslateServiceStub(channel)
        for metadata in (
            (("x-api-key", key["secret"]),),
            (("authorization", f"Bearer {key['secret']}"),),
        ):
            reply = await stub.ListTranslations(
                translate_pb2.ListTranslationsRequest(), metadata=metadata, timeout=10
            )
            assert list(reply.translations) == []
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListTranslations(
                translate_pb2.ListTranslationsRequest(),
                metadata=(("x-api-key", key["secret"] + "x"),),
                timeout=10,
            )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_revoked_api_key_is_refused_by_another_service_at_once(rest: httpx.Client):
    """translate cached the key's identity; the revocation event drops it well before the
    cache TTL (60 s)."""
    owner = sign_in(rest)
    key = _api_key(rest, owner)
    as_key = {"x-api-key": key["secret"]}
    assert rest.get(TRANSLATIONS, headers=as_key).status_code == 200  # now cached
    revoked = rest.post(f"/api/v1/{key['name']}:revoke", json={}, headers=owner)
    assert revoked.status_code == 200, revoked.text
    deadline = time.monotonic() + 5
    while (reply := rest.get(TRANSLATIONS, headers=as_key)).status_code == 200:
        assert time.monotonic() < deadline, "translate still accepts the revoked key"
        time.sleep(0.1)
    assert reply.status_code == 401


# --- signing-key rotation ---------------------------------------------------------------------


def _rotate(mesh: Mesh) -> str:
    """`python -m services.auth rotate-keys` on the mesh's key ring, as an operator runs it."""
    env = {**os.environ, "PYTHONPATH": ".:gen", "VOKA_DATA_DIR": str(mesh.var)}
    done = subprocess.run(
        [sys.executable, "-m", "services.auth", "rotate-keys"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.split()[2].rstrip(";")  # "signing key <kid>; <old> published until ..."


def test_rotation_keeps_old_tokens_valid_through_envoy(rest: httpx.Client, mesh: Mesh):
    before = sign_in(rest)
    old_kid = jwt.get_unverified_header(before["authorization"].split()[1])["kid"]
    new_kid = _rotate(mesh)
    deadline = time.monotonic() + 10
    while rest.get("/api/v1/auth/jwks").json()["keys"][0]["kid"] != new_kid:
        assert time.monotonic() < deadline, "auth never switched to the new key"
        time.sleep(0.1)
    after = sign_in(rest)
    assert jwt.get_unverified_header(after["authorization"].split()[1])["kid"] == new_kid
    assert new_kid != old_kid
    kids = [k["kid"] for k in rest.get("/api/v1/auth/jwks").json()["keys"]]
    assert old_kid in kids  # published until the tokens it signed have expired
    for headers in (before, after):  # Envoy knew the new key before it signed anything
        assert rest.get("/api/v1/users/me", headers=headers).status_code == 200
        assert rest.get(TRANSLATIONS, headers=headers).status_code == 200


# --- whose address counts for the per-address limits ------------------------------------------

SPOOFED = {"x-forwarded-for": "198.51.100.6", "x-envoy-external-address": "198.51.100.9"}


def _session_addresses(rest: httpx.Client, headers: dict[str, str]) -> set[str]:
    sessions = rest.get("/api/v1/users/me/sessions", headers=headers).json()["sessions"]
    return {s["ipAddress"] for s in sessions}


def test_a_client_cannot_choose_its_address_through_envoy(rest: httpx.Client):
    """Envoy overwrites x-envoy-external-address with the real peer; x-forwarded-for is ignored."""
    account = _account()
    rest.post("/api/v1/auth/register", json=account)
    credentials = {"username": account["username"], "password": account["password"]}
    login = rest.post("/api/v1/auth/login", json=credentials, headers=SPOOFED)
    headers = {"authorization": f"Bearer {login.json()['accessToken']}"}
    assert _session_addresses(rest, headers) == {"127.0.0.1"}


def _grpc_login(mesh: Mesh, metadata: tuple[tuple[str, str], ...]) -> str:
    """Register and log in straight at the auth service; the address its session recorded."""
    account = _account()
    with grpc.insecure_channel(mesh.service_address("auth")) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        stub.Register(auth_pb2.RegisterRequest(**account), timeout=10)
        credentials = {"username": account["username"], "password": account["password"]}
        login = stub.Login(auth_pb2.LoginRequest(**credentials), metadata=metadata, timeout=10)
        sessions = stub.ListSessions(
            auth_pb2.ListSessionsRequest(parent="users/me"),
            metadata=(("authorization", f"Bearer {login.access_token}"),),
            timeout=10,
        )
    return sessions.sessions[0].ip_address


def test_a_direct_caller_is_its_tcp_peer_whatever_headers_it_sends(mesh: Mesh):
    forged = (*SPOOFED.items(), ("x-voka-gateway", "a guess"))
    assert _grpc_login(mesh, forged) == "127.0.0.1"


def test_the_external_address_counts_with_the_gateways_proof(mesh: Mesh):
    """What Envoy does on every forwarded call: the header, with the gateway secret."""
    proof = (mesh.var / "secrets" / "gateway").read_text().strip()
    metadata = (("x-envoy-external-address", "203.0.113.7"), ("x-voka-gateway", proof))
    assert _grpc_login(mesh, metadata) == "203.0.113.7"
