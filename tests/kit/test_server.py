"""The kit's server bootstrap, in process: health, ops, reflection, hooks on every RPC kind."""

from __future__ import annotations

import asyncio
import importlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from tests.fixtures import stops
from tests.fixtures.tokens import TokenFactory
from voka import metrics, registry, server
from voka.config import Settings
from voka.health import Check, HealthMonitor
from voka.ops.v1 import ops_pb2, ops_pb2_grpc
from voka.server import Running, ServiceSpec, start


async def _no_servicers(_resources: object) -> list[object]:
    return []


@pytest.fixture
async def running(tokens: TokenFactory, tmp_path: Path) -> AsyncIterator[Running]:
    settings = Settings(service="kinect", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file)
    service = await start(ServiceSpec(name="kinect", build=_no_servicers, bus=False), settings)  # type: ignore[arg-type]
    yield service
    await service.stop()


@pytest.fixture
async def channel(running: Running) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as chan:
        yield chan


async def test_health_serving_then_not_serving_while_draining(running: Running, channel):
    stub = health_pb2_grpc.HealthStub(channel)
    reply = await stub.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    await running.monitor.drain()
    reply = await stub.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
    ops = ops_pb2_grpc.OpsServiceStub(channel)
    health = (await ops.GetHealth(ops_pb2.GetHealthRequest(service="kinect"))).health
    assert health.draining
    assert health.status == ops_pb2.SERVING_STATUS_NOT_SERVING


async def test_get_health_names_the_service(channel):
    ops = ops_pb2_grpc.OpsServiceStub(channel)
    health = (await ops.GetHealth(ops_pb2.GetHealthRequest(service="kinect"))).health
    assert health.service == "kinect"
    assert health.status == ops_pb2.SERVING_STATUS_SERVING
    assert health.uptime.ToTimedelta().total_seconds() >= 0


async def test_get_health_of_another_service_is_not_found(channel):
    ops = ops_pb2_grpc.OpsServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await ops.GetHealth(ops_pb2.GetHealthRequest(service="tasks"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_watch_health_streams_max_events(channel):
    ops = ops_pb2_grpc.OpsServiceStub(channel)
    request = ops_pb2.WatchHealthRequest(
        service="kinect", interval=duration_pb2.Duration(nanos=500_000_000), max_events=3
    )
    events = [e async for e in ops.WatchHealth(request)]
    assert [e.health.service for e in events] == ["kinect"] * 3


async def test_validation_error_names_each_bad_field(channel):
    ops = ops_pb2_grpc.OpsServiceStub(channel)
    request = ops_pb2.WatchHealthRequest(
        service="kinect", interval=duration_pb2.Duration(nanos=1_000_000), max_events=-1
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in ops.WatchHealth(request):
            pass
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(err.value)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    assert {v.field for v in bad.field_violations} == {"interval", "max_events"}


async def test_reflection_stream_stream_passes_through_hooks(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    before = metrics.RPC_HANDLED.labels(
        "grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo", "OK"
    )._value.get()

    async def one_request() -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        yield reflection_pb2.ServerReflectionRequest(list_services="")

    names = [
        s.name
        async for reply in stub.ServerReflectionInfo(one_request())
        for s in reply.list_services_response.service
    ]
    assert "voka.ops.v1.OpsService" in names
    assert "grpc.health.v1.Health" in names
    after = metrics.RPC_HANDLED.labels(
        "grpc.reflection.v1alpha.ServerReflection", "ServerReflectionInfo", "OK"
    )._value.get()
    assert after == before + 1


async def test_public_rpc_refuses_a_broken_token(channel, tokens: TokenFactory):
    ops = ops_pb2_grpc.OpsServiceStub(channel)
    forged = tokens.mint(kid="unknown-kid")
    for metadata in ((("authorization", "Bearer " + forged),), (("authorization", "Basic x"),)):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await ops.GetHealth(ops_pb2.GetHealthRequest(service="kinect"), metadata=metadata)
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_public_rpc_accepts_a_good_token(channel, tokens: TokenFactory):
    ops = ops_pb2_grpc.OpsServiceStub(channel)
    reply = await ops.GetHealth(
        ops_pb2.GetHealthRequest(service="kinect"), metadata=tokens.metadata()
    )
    assert reply.health.service == "kinect"


async def test_dependency_down_fails_readiness_not_liveness():
    async def database_down() -> str:
        raise ConnectionError("connection refused")

    monitor = HealthMonitor("meetings", "dev", {"database": database_down}, [])
    await monitor.start()
    ready = await monitor.grpc_health.Check(health_pb2.HealthCheckRequest(), None)
    alive = await monitor.grpc_health.Check(health_pb2.HealthCheckRequest(service="liveness"), None)
    assert ready.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert alive.status == health_pb2.HealthCheckResponse.SERVING
    health = await monitor.snapshot()
    assert [(d.name, d.ok) for d in health.dependencies] == [("database", False)]
    assert "connection refused" in health.dependencies[0].detail


async def test_only_the_readiness_dependencies_take_a_service_out_of_rotation():
    """A failing check outside `readiness` is reported, not a reason to stop serving."""

    async def down() -> str:
        raise ConnectionError("connection refused")

    async def up() -> str:
        return "ok"

    async def ready(checks: dict[str, Check]) -> tuple[int, list[tuple[str, bool]]]:
        monitor = HealthMonitor("auth", "dev", checks, [], readiness={"database"})
        await monitor.start()
        reply = await monitor.grpc_health.Check(health_pb2.HealthCheckRequest(), None)
        health = await monitor.snapshot()
        return reply.status, [(d.name, d.ok) for d in health.dependencies]

    serving, not_serving = (
        health_pb2.HealthCheckResponse.SERVING,
        health_pb2.HealthCheckResponse.NOT_SERVING,
    )
    assert await ready({"database": up, "nats": down}) == (
        serving,
        [("database", True), ("nats", False)],
    )
    assert await ready({"database": down, "nats": up}) == (
        not_serving,
        [("database", False), ("nats", True)],
    )


def test_docs_say_which_dependency_makes_each_service_unready():
    """docs/operations.md's Readiness table against each service's declaration."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    section = text[text.index("## Readiness") :]
    rows = re.findall(r"^\| (\w+) \| (.+?) \| (.+?) \|$", section, re.M)
    words = {"its database is down": {"database"}, "(no dependency: only while draining)": set()}
    documented = {name: words[unready] for name, unready, _ in rows if name in registry.names()}
    declared = {}
    for name in registry.names():
        spec = importlib.import_module(f"services.{name}.service").SPEC
        checks = {"database"} if spec.database else set()
        checks |= {"nats"} if spec.bus else set()
        declared[name] = set(spec.readiness) & checks
    assert documented == declared


async def test_a_close_that_never_ends_is_cancelled_and_the_stop_goes_on(
    tokens: TokenFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    settings = Settings(service="kinect", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file)
    service = await start(ServiceSpec(name="kinect", build=_no_servicers, bus=False), settings)  # type: ignore[arg-type]
    monkeypatch.setattr(server, "STOP_STEP_SECONDS", 0.2)
    closed: list[str] = []

    async def closes() -> None:
        closed.append("earlier")

    async def never_ends() -> None:
        await asyncio.Event().wait()

    service.resources.on_stop[:0] = [closes, never_ends]  # closed last, in reverse order
    await asyncio.wait_for(service.stop(), timeout=10)
    assert closed == ["earlier"]
    overrun = [r for r in caplog.records if "overran" in r.getMessage()]
    assert len(overrun) == 1
    assert "never_ends" in overrun[0].getMessage()
    assert "in Event.wait" in overrun[0].getMessage()  # the stuck task's stack, to its wait
    stops.OVERRUNS.remove(overrun[0].getMessage())  # this one was wanted: not for the summary
