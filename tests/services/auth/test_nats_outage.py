"""Readiness during a NATS outage: every replica loses NATS at once, so if NATS made a service
NOT_SERVING the whole API would leave rotation with it. Auth stays SERVING (its database is its
only readiness dependency: voka.server.ServiceSpec.readiness), reports NATS as down in its
detailed health, and a login still succeeds; what it publishes waits in its outbox."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import grpc
import nats as nats_client
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.services.auth.conftest import PASSWORD, bearer, signed_up
from tools.processes import NatsServer
from voka import metrics
from voka.auth.v1 import auth_pb2, auth_pb2_grpc, events_pb2
from voka.bus import stream_name, subject_of
from voka.ops.v1 import ops_pb2
from voka.server import Running


@pytest.fixture
def nats(nats_server: NatsServer) -> NatsServer:
    """This module stops NATS: a server of each test's own instead of the module's."""
    return nats_server


@contextlib.asynccontextmanager
async def outage(nats: NatsServer) -> AsyncIterator[None]:
    """NATS stopped for the block, and running again after it whatever happened (auth, stopped
    after the test, flushes to it)."""
    await asyncio.to_thread(nats.stop)  # off the loop, so the client sees it go
    try:
        yield
    finally:
        await asyncio.to_thread(nats.start)


async def _health_once_nats_is_gone(auth: Running, within: float = 10.0) -> ops_pb2.Health:
    """Health rounds until the NATS check fails (the client notices the server went)."""
    deadline = time.monotonic() + within
    while True:
        health = await auth.monitor.tick()
        nats = {d.name: d for d in health.dependencies}["nats"]
        if not nats.ok:
            return health
        assert time.monotonic() < deadline, "the NATS check still passes"
        await asyncio.sleep(0.2)


async def test_auth_stays_ready_and_logs_in_while_nats_is_down(
    auth: Running, stub: auth_pb2_grpc.AuthServiceStub, nats: NatsServer
):
    await signed_up(stub)
    async with outage(nats):
        health = await _health_once_nats_is_gone(auth)
        assert health.status == ops_pb2.SERVING_STATUS_SERVING
        assert {d.name: d.ok for d in health.dependencies} == {"database": True, "nats": False}
        # The outage is reported where the alerts read it (VokaBrokerDown).
        assert metrics.DEPENDENCY_UP.labels("auth", "nats")._value.get() == 0
        async with grpc.aio.insecure_channel(f"127.0.0.1:{auth.port}") as channel:
            readiness = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="")
            )
        assert readiness.status == health_pb2.HealthCheckResponse.SERVING

        login = await stub.Login(auth_pb2.LoginRequest(username="alice", password=PASSWORD))
        assert login.access_token
        assert login.user.username == "alice"
        me = await stub.GetUser(
            auth_pb2.GetUserRequest(name="users/me"), metadata=bearer(login.access_token)
        )
        assert me.user.name == login.user.name

    # NATS back: the outbox hands JetStream both logins' events, the one made during the outage
    # included, and the NATS check passes again.
    assert await _logins_stored(nats.url, expected=2) == 2
    health = await auth.monitor.tick()
    assert {d.name: d.ok for d in health.dependencies} == {"database": True, "nats": True}


async def _logins_stored(url: str, expected: int, within: float = 30.0) -> int:
    """LoginSucceededEvents in auth's stream, once there are `expected` or time is up."""
    subject = subject_of(events_pb2.LoginSucceededEvent)
    client = await nats_client.connect(url)
    try:
        deadline = time.monotonic() + within
        while True:
            stream = stream_name("auth")
            info = await client.jetstream().stream_info(stream, subjects_filter=subject)
            stored = (info.state.subjects or {}).get(subject, 0)
            if stored >= expected or time.monotonic() > deadline:
                return stored
            await asyncio.sleep(0.2)
    finally:
        await client.close()
