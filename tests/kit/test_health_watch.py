"""WatchHealth and GetHealth are public: anyone may call them, so they must cost the service
next to nothing. Every caller reads the health loop's latest result (no dependency check runs for
a caller), a stream has a minimum interval and an end, a process holds a bounded number of
streams, and only admins read what a dependency said when it failed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.fixtures.tokens import TokenFactory
from voka import errors
from voka.config import Settings
from voka.health import HealthMonitor, OpsServicer
from voka.ops.v1 import ops_pb2, ops_pb2_grpc
from voka.server import Registration, Resources, Running, ServiceSpec, start

SECRET = "could not connect to db.internal:5432 as user voka_owner"


class Checks:
    """A database check that counts its runs and fails with a revealing message."""

    def __init__(self) -> None:
        self.runs = 0

    async def database(self) -> str:
        self.runs += 1
        raise ConnectionError(SECRET)

    async def nats(self) -> str:
        return "jetstream ok at nats://nats.internal:4222"


@pytest.fixture
def checks() -> Checks:
    return Checks()


@pytest.fixture
async def running(tokens: TokenFactory, tmp_path: Path, checks: Checks) -> AsyncIterator[Running]:
    async def build(resources: Resources) -> list[Registration]:
        resources.checks["database"] = checks.database
        resources.checks["nats"] = checks.nats
        return []

    settings = Settings(
        service="kinect",
        port=0,
        data_dir=tmp_path,
        jwks_file=tokens.jwks_file,
        health_interval_seconds=3600.0,  # one loop round at start, none during the test
    )
    service = await start(ServiceSpec(name="kinect", build=build, bus=False), settings)
    yield service
    await service.stop()


@pytest.fixture
async def ops(running: Running) -> AsyncIterator[ops_pb2_grpc.OpsServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield ops_pb2_grpc.OpsServiceStub(channel)


def watch(interval_ms: int, max_events: int = 0) -> ops_pb2.WatchHealthRequest:
    return ops_pb2.WatchHealthRequest(
        service="kinect",
        interval=duration_pb2.Duration(nanos=interval_ms * 1_000_000),
        max_events=max_events,
    )


def fields(err: grpc.aio.AioRpcError) -> list[str]:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(err).details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]


async def test_an_interval_under_half_a_second_is_refused(ops):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in ops.WatchHealth(watch(100, max_events=1)):
            pass
    assert fields(err.value) == ["interval"]


async def test_watchers_read_the_loop_result_and_run_no_check(ops, checks: Checks):
    runs = checks.runs  # the loop's first round, at start
    assert runs >= 1
    events = [e async for e in ops.WatchHealth(watch(500, max_events=3))]
    assert len(events) == 3
    for _ in range(5):
        await ops.GetHealth(ops_pb2.GetHealthRequest(service="kinect"))
    assert checks.runs == runs
    # The shared result still says how long the process has been up, as of each event.
    uptimes = [e.health.uptime.ToTimedelta() for e in events]
    assert uptimes == sorted(uptimes)
    assert uptimes[-1] - uptimes[0] >= timedelta(milliseconds=900)


async def test_anonymous_callers_and_users_read_no_dependency_detail(ops, tokens: TokenFactory):
    for metadata in ((), tokens.metadata(roles=("user",))):
        health = (
            await ops.GetHealth(ops_pb2.GetHealthRequest(service="kinect"), metadata=metadata)
        ).health
        details = {d.name: (d.ok, d.detail) for d in health.dependencies}
        assert details == {"database": (False, "unavailable"), "nats": (True, "ok")}
        (event,) = [e async for e in ops.WatchHealth(watch(500, 1), metadata=metadata)]
        assert "db.internal" not in str(event)
        assert "nats.internal" not in str(event)


async def test_admins_read_what_each_dependency_said(ops, tokens: TokenFactory):
    admin = tokens.metadata(subject="users/root", roles=("admin",))
    health = (
        await ops.GetHealth(ops_pb2.GetHealthRequest(service="kinect"), metadata=admin)
    ).health
    details = {d.name: d.detail for d in health.dependencies}
    assert SECRET in details["database"]
    assert "nats.internal" in details["nats"]
    (event,) = [e async for e in ops.WatchHealth(watch(500, 1), metadata=admin)]
    assert SECRET in str(event)


# --- bounds of one process's streams ----------------------------------------------------------


class _Context:
    """What WatchHealth reads of its gRPC context: nothing (the kit's hooks are not in play)."""


@pytest.fixture
async def monitor() -> HealthMonitor:
    async def ok() -> str:
        return "ok"

    monitor = HealthMonitor("kinect", "dev", {"database": ok}, [])
    await monitor.start()
    return monitor


async def test_streams_beyond_the_limit_are_resource_exhausted(monitor: HealthMonitor):
    servicer = OpsServicer(monitor, max_watchers=2)
    request = watch(500)
    first = servicer.WatchHealth(request, _Context())
    second = servicer.WatchHealth(request, _Context())
    await anext(first)
    await anext(second)
    with pytest.raises(errors.VokaError) as refused:
        await anext(servicer.WatchHealth(request, _Context()))
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    await first.aclose()  # a caller leaving frees its slot
    third = servicer.WatchHealth(request, _Context())
    assert (await anext(third)).health.service == "kinect"
    await second.aclose()
    await third.aclose()


async def test_a_stream_without_max_events_still_ends(monitor: HealthMonitor):
    servicer = OpsServicer(monitor, max_stream=timedelta(seconds=1.2))
    events = [e async for e in servicer.WatchHealth(watch(500), _Context())]
    assert 2 <= len(events) <= 4  # at 0 s, 0.5 s, 1 s: then the stream's time is up
