"""Auth's events are not lost when NATS is down as the change commits, even if the service stops
before NATS is back (issue 15, item 1): they are written with the change (`voka.outbox`), and
the relay publishes them once NATS takes them. A lost revocation would leave the other
services trusting tokens for up to their denylist reload; a lost `UserDeletedEvent` would leave
the account's data in every other service for good."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from services.auth.service import SPEC
from services.auth.settings import AuthSettings
from tests.fixtures.events import published
from tests.services.auth.conftest import bearer, signed_up
from tools.processes import NatsServer, free_ports
from voka.auth.v1 import auth_pb2, auth_pb2_grpc, events_pb2
from voka.server import start

pytestmark = pytest.mark.integration
WAIT = 30.0  # seconds: the relay retries with backoff while NATS was away


async def test_revocations_and_a_deletion_made_while_nats_is_down_are_announced_after_it_returns(
    nats_server: NatsServer, database_url: str, tmp_path: Path
) -> None:
    settings = AuthSettings(
        service="auth",
        port=free_ports(1)[0],
        data_dir=tmp_path / "data",
        database_url=database_url,
        nats_url=nats_server.url,
    )
    running = await start(SPEC, settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = auth_pb2_grpc.AuthServiceStub(channel)
            alice, bob = await signed_up(stub, "alice"), await signed_up(stub, "bob")
            await asyncio.to_thread(nats_server.stop)  # off the loop, so the client sees it go
            await stub.Logout(auth_pb2.LogoutRequest(), metadata=bearer(alice.access_token))
            await stub.DeleteUser(
                auth_pb2.DeleteUserRequest(name=bob.user.name), metadata=bearer(bob.access_token)
            )
    finally:
        await running.stop()  # while NATS is down: nothing it held in memory survives
    await asyncio.to_thread(nats_server.start)
    url = nats_server.url
    async with (
        published(url, events_pb2.SessionRevokedEvent) as sessions,
        published(url, events_pb2.AccessTokenRevokedEvent) as tokens,
        published(url, events_pb2.UserDeletedEvent) as deletions,
    ):
        running = await start(SPEC, settings)
        try:
            await deletions.until(lambda seen: any(e.user == bob.user.name for e in seen), WAIT)
            revoked_sessions = {alice.session, bob.session}
            await sessions.until(lambda seen: revoked_sessions <= {e.session for e in seen}, WAIT)
            cut_off = {alice.user.name, bob.user.name}
            await tokens.until(lambda seen: cut_off <= {e.subject for e in seen}, WAIT)
        finally:
            await running.stop()
    reasons = {e.session: e.reason for e in sessions.events}
    assert reasons[alice.session] == auth_pb2.REVOCATION_REASON_LOGOUT
    assert reasons[bob.session] == auth_pb2.REVOCATION_REASON_USER_DELETED
    [deleted] = [e for e in deletions.events if e.user == bob.user.name]
    assert deleted.actor == bob.user.name
