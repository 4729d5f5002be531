"""Every process runs on uvloop unless its settings say asyncio, and gRPC works on both."""

from __future__ import annotations

import asyncio

import grpc
import pydantic
import pytest
import uvloop
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from voka import event_loop
from voka.config import Settings


async def _loop_after_a_grpc_call() -> type[asyncio.AbstractEventLoop]:
    """The loop's class, once a grpc.aio server on it has answered a call over TCP."""
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health_aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        await server.stop(None)
    return type(asyncio.get_running_loop())


def test_uvloop_by_default_and_grpc_serves_on_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOKA_EVENT_LOOP", raising=False)
    kind = Settings().event_loop
    assert kind == "uvloop"
    assert event_loop.run(_loop_after_a_grpc_call(), kind) is uvloop.Loop


def test_asyncio_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOKA_EVENT_LOOP", "asyncio")
    kind = event_loop.run(_loop_after_a_grpc_call(), Settings().event_loop)
    assert issubclass(kind, asyncio.BaseEventLoop)  # the standard library's; uvloop's is not one


def test_an_unknown_loop_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOKA_EVENT_LOOP", "trio")
    with pytest.raises(pydantic.ValidationError, match="event_loop"):
        Settings()
