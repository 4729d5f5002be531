"""No auth RPC holds the event loop longer than 50 ms (issue 16, item 3): the JWKS, accounts
(registered, logged in: argon2id runs in threads), the caller's own records (user, sessions,
API keys, one written), the admin lists and the kit's RPCs. On SQLite only: the loop's
behaviour does not depend on the database's driver."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from services.auth.cli import create_admin
from services.auth.settings import AuthSettings
from tests.services.auth.conftest import PASSWORD, bearer, signed_up
from tests.services.loop_lag import Phase, assert_loop_free
from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka.server import Running


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
def auth_options() -> dict[str, Any]:
    """The phases register from one address, and call as one user."""
    return {"auth_ip_registrations": 1000, "rate_limit_per_second": 0}


async def test_no_auth_rpc_holds_the_event_loop(
    auth: Running, stub: auth_pb2_grpc.AuthServiceStub
) -> None:
    settings = auth.resources.settings
    assert isinstance(settings, AuthSettings)
    await create_admin(settings, "root", "root@example.com", PASSWORD)
    root = await stub.Login(auth_pb2.LoginRequest(username="root", password=PASSWORD))
    admin = bearer(root.access_token)
    me = bearer((await signed_up(stub, "loop")).access_token)
    numbers = itertools.count()

    def register() -> Any:
        name = f"user{next(numbers)}"
        return stub.Register(auth_pb2.RegisterRequest(
            username=name, email=f"{name}@example.com", password=PASSWORD))  # fmt: skip

    phases = [
        Phase("GetJwks", lambda: stub.GetJwks(auth_pb2.GetJwksRequest())),
        Phase("Register", register, calls=6, in_flight=3),
        Phase("Login", lambda: stub.Login(
            auth_pb2.LoginRequest(username="loop", password=PASSWORD)), calls=6, in_flight=3),
        Phase("GetUser", lambda: stub.GetUser(
            auth_pb2.GetUserRequest(name="users/me"), metadata=me)),
        Phase("ListSessions", lambda: stub.ListSessions(
            auth_pb2.ListSessionsRequest(parent="users/me"), metadata=me)),
        Phase("CreateApiKey", lambda: stub.CreateApiKey(auth_pb2.CreateApiKeyRequest(
            parent="users/me", api_key=auth_pb2.ApiKey(display_name=f"key {next(numbers)}")),
            metadata=me)),
        Phase("ListApiKeys", lambda: stub.ListApiKeys(
            auth_pb2.ListApiKeysRequest(parent="users/me"), metadata=me)),
        Phase("ListUsers", lambda: stub.ListUsers(auth_pb2.ListUsersRequest(), metadata=admin)),
        Phase("ListAuditEvents", lambda: stub.ListAuditEvents(
            auth_pb2.ListAuditEventsRequest(), metadata=admin)),
    ]  # fmt: skip
    await assert_loop_free("auth", auth.port, admin, phases)
