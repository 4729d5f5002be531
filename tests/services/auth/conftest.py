"""The auth service in process, on a real NATS server, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.auth.service import SPEC
from services.auth.settings import AuthSettings
from tools.processes import NatsServer, free_ports
from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka.server import Running, start

PASSWORD = "correct horse battery"


@pytest.fixture
def auth_options() -> dict[str, Any]:
    """Further AuthSettings of the `auth` fixture; a test module overrides it."""
    return {}


@pytest.fixture
async def auth(
    database_url: str, nats: NatsServer, tmp_path: Path, auth_options: dict[str, Any]
) -> AsyncIterator[Running]:
    settings = AuthSettings(
        service="auth",
        port=free_ports(1)[0],
        data_dir=tmp_path,
        database_url=database_url,
        nats_url=nats.url,
        **auth_options,
    )
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture
async def stub(auth: Running) -> AsyncIterator[auth_pb2_grpc.AuthServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{auth.port}") as channel:
        yield auth_pb2_grpc.AuthServiceStub(channel)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


async def signed_up(
    stub: auth_pb2_grpc.AuthServiceStub, username: str = "alice"
) -> auth_pb2.LoginResponse:
    """Register and log in; answers the login."""
    await stub.Register(
        auth_pb2.RegisterRequest(
            username=username, email=f"{username}@Example.com", password=PASSWORD
        )
    )
    return await stub.Login(auth_pb2.LoginRequest(username=username, password=PASSWORD))
