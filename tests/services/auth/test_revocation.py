"""Every access token can be revoked, and another service refuses it.

kinect runs beside the real auth service with a service identity of its own, so its kit loads
the denylist from auth and follows the revocation events (voka.revocations), as every service
does in the mesh. Each case gets tokens from every way auth issues them to a user (login, each
refresh, each API-key exchange), checks kinect accepts them, revokes, and expects kinect to refuse
every token issued before the revocation within the bound: events arrive in milliseconds; the
periodic reload that makes good a lost event is tested in tests/kit/test_revocations.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.auth.cli import create_admin
from services.auth.settings import AuthSettings
from services.kinect.service import SPEC as KINECT
from tests.fixtures.waiting import eventually
from tests.services.auth.conftest import PASSWORD, bearer, signed_up
from tools.processes import free_ports
from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka.config import Settings
from voka.kinect.v1 import kinect_pb2, kinect_pb2_grpc
from voka.server import Running, start
from voka.service_identity import SECRET_ENV

pytestmark = pytest.mark.integration

KINECT_SECRET = "kinect's own secret, for these tests only"
WITHIN = 5.0  # seconds: the events' way; the reload's 30 s bound is tested in the kit


@pytest.fixture
def auth_options() -> dict[str, Any]:
    """auth knows kinect's secret, so kinect gets a token to load the denylist with."""
    return {"auth_service_secrets": {"kinect": hashlib.sha256(KINECT_SECRET.encode()).hexdigest()}}


@pytest.fixture
async def kinect(
    auth: Running, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[kinect_pb2_grpc.KinectServiceStub]:
    monkeypatch.setenv(SECRET_ENV, KINECT_SECRET)
    settings = Settings(
        service="kinect",
        port=free_ports(1)[0],
        data_dir=tmp_path / "kinect",
        addresses={"auth": f"127.0.0.1:{auth.port}"},
        nats_url=auth.resources.settings.nats_url,
    )
    running = await start(KINECT, settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield kinect_pb2_grpc.KinectServiceStub(channel)
    finally:
        await running.stop()


async def accepted(kinect: kinect_pb2_grpc.KinectServiceStub, token: str) -> bool:
    try:
        await kinect.GetStatus(kinect_pb2.GetStatusRequest(), metadata=bearer(token))
    except grpc.aio.AioRpcError as exc:
        if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
            raise
        return False
    return True


async def cut_off(kinect: kinect_pb2_grpc.KinectServiceStub, *tokens: str) -> None:
    """kinect refuses every one of `tokens` within the bound."""

    async def all_refused() -> bool:
        return not any([await accepted(kinect, token) for token in tokens])

    await eventually(all_refused, WITHIN)


async def all_accepted(kinect: kinect_pb2_grpc.KinectServiceStub, *tokens: str) -> None:
    for token in tokens:
        assert await accepted(kinect, token)


async def session_tokens(
    stub: auth_pb2_grpc.AuthServiceStub, username: str = "alice"
) -> tuple[auth_pb2.LoginResponse, list[str]]:
    """A login and two refreshes: the session's three access tokens, the newest last."""
    login = await signed_up(stub, username)
    tokens, refresh = [login.access_token], login.refresh_token
    for _ in range(2):
        reply = await stub.RefreshToken(auth_pb2.RefreshTokenRequest(refresh_token=refresh))
        tokens.append(reply.access_token)
        refresh = reply.refresh_token
    return login, tokens


async def api_key(stub: auth_pb2_grpc.AuthServiceStub, access_token: str) -> tuple[str, str]:
    """A new API key of the token's user: its name and its secret."""
    created = await stub.CreateApiKey(
        auth_pb2.CreateApiKeyRequest(parent="users/me", api_key=auth_pb2.ApiKey(display_name="ci")),
        metadata=bearer(access_token),
    )
    return created.api_key.name, created.secret


async def exchanged(stub: auth_pb2_grpc.AuthServiceStub, secret: str, times: int = 1) -> list[str]:
    return [
        (await stub.ExchangeApiKey(auth_pb2.ExchangeApiKeyRequest(api_key=secret))).access_token
        for _ in range(times)
    ]


async def admin(auth: Running, stub: auth_pb2_grpc.AuthServiceStub) -> tuple[tuple[str, str]]:
    settings = auth.resources.settings
    assert isinstance(settings, AuthSettings)
    await create_admin(settings, "root", "root@example.com", PASSWORD)
    login = await stub.Login(auth_pb2.LoginRequest(username="root", password=PASSWORD))
    return bearer(login.access_token)


async def test_logout_cuts_off_every_token_of_the_session(stub, kinect):
    """Tokens from earlier refreshes of the session too, not only the last one."""
    _, tokens = await session_tokens(stub)
    await all_accepted(kinect, *tokens)
    await stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(tokens[-1]))
    await cut_off(kinect, *tokens)


async def test_revoking_an_api_key_cuts_off_the_tokens_exchanged_for_it(stub, kinect):
    login = await signed_up(stub)
    name, secret = await api_key(stub, login.access_token)
    tokens = await exchanged(stub, secret, times=2)
    await all_accepted(kinect, *tokens)
    await stub.RevokeApiKey(
        auth_pb2.RevokeApiKeyRequest(name=name), metadata=bearer(login.access_token)
    )
    await cut_off(kinect, *tokens)
    assert await accepted(kinect, login.access_token)  # the owner's session is not the key


async def test_disabling_a_user_cuts_off_every_token(auth, stub, kinect):
    login, tokens = await session_tokens(stub)
    _, secret = await api_key(stub, login.access_token)
    tokens += await exchanged(stub, secret)
    await all_accepted(kinect, *tokens)
    await stub.DisableUser(
        auth_pb2.DisableUserRequest(name=login.user.name), metadata=await admin(auth, stub)
    )
    await cut_off(kinect, *tokens)


async def test_demoting_an_admin_cuts_off_every_token_with_the_admin_role(auth, stub, kinect):
    root = await admin(auth, stub)
    login, tokens = await session_tokens(stub)
    await stub.SetUserRole(
        auth_pb2.SetUserRoleRequest(name=login.user.name, role=auth_pb2.ROLE_ADMIN), metadata=root
    )
    promoted = await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
    _, secret = await api_key(stub, promoted.access_token)
    as_admin = [promoted.access_token, *await exchanged(stub, secret)]
    await all_accepted(kinect, *tokens, *as_admin)
    await stub.SetUserRole(
        auth_pb2.SetUserRoleRequest(name=login.user.name, role=auth_pb2.ROLE_USER), metadata=root
    )
    await cut_off(kinect, *tokens, *as_admin)


async def test_changing_the_password_cuts_off_every_token_but_keeps_the_api_keys(stub, kinect):
    login, tokens = await session_tokens(stub)
    _, secret = await api_key(stub, login.access_token)
    tokens += await exchanged(stub, secret)
    await all_accepted(kinect, *tokens)
    changed = await stub.ChangePassword(
        auth_pb2.ChangePasswordRequest(current_password=PASSWORD, new_password="a new passphrase"),
        metadata=bearer(tokens[0]),
    )
    await cut_off(kinect, *tokens)
    # The fresh session of the answer works, and so does the key (docs/auth.md says why).
    await all_accepted(kinect, changed.access_token, *await exchanged(stub, secret))
