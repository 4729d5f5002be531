"""The admins' operations views (voka/mesh_ops.py): every declared service runs here as a real
gRPC server started by the kit, and any one of them answers for the whole mesh, as an admin
asked it, listing a service that does not answer with the error; one service's recent errors;
the drain that stops a process for Kubernetes to restart; and backups of the databases (meetings
runs with its real SQLite database here, the others without one)."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import closing
from pathlib import Path

import grpc
import pytest

from tests.fixtures.tokens import TokenFactory
from tools.processes import free_ports
from voka import registry, server
from voka.config import Settings
from voka.ops.v1 import ops_pb2, ops_pb2_grpc
from voka.server import Registration, Resources, Running, ServiceSpec, start

DETAIL = "sqlite at /var/lib/voka/{service}.db"
METHOD = "/voka.kinect.v1.KinectService/GetStatus"
BACKED_UP = "meetings"  # the one service of the test mesh with a database


async def _start(
    service: str, addresses: dict[str, str], tokens: TokenFactory, data: Path
) -> Running:
    async def build(resources: Resources) -> list[Registration]:
        async def database() -> str:
            return DETAIL.format(service=service)

        resources.checks["database"] = database
        return []

    settings = Settings(
        service=service,
        port=int(addresses[service].rsplit(":", 1)[1]),
        data_dir=data / service,
        jwks_file=tokens.jwks_file,
        addresses=addresses,
        health_interval_seconds=3600.0,  # one loop round at start, none during the test
    )
    spec = ServiceSpec(name=service, build=build, bus=False, database=service == BACKED_UP)
    return await start(spec, settings)


@pytest.fixture
async def mesh(tokens: TokenFactory, tmp_path: Path) -> AsyncIterator[dict[str, Running]]:
    """Every declared service, each on a port of its own and told where the others are."""
    names = registry.names()
    ports = free_ports(len(names))
    addresses = {name: f"127.0.0.1:{port}" for name, port in zip(names, ports, strict=True)}
    running: dict[str, Running] = {}
    try:
        for name in names:
            running[name] = await _start(name, addresses, tokens, tmp_path)
        yield running
    finally:
        for service in running.values():
            await service.stop()


@pytest.fixture
async def ops(mesh: dict[str, Running]) -> AsyncIterator[ops_pb2_grpc.OpsServiceStub]:
    """A stub of the last declared service: any one answers for the mesh."""
    last = list(mesh.values())[-1]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{last.port}") as channel:
        yield ops_pb2_grpc.OpsServiceStub(channel)


@pytest.fixture
def admin(tokens: TokenFactory) -> tuple[tuple[str, str]]:
    return tokens.metadata(subject="users/root", roles=("admin",))


async def test_mesh_health_lists_every_service_with_what_it_told_the_admin(ops, admin):
    reply = await ops.GetMeshHealth(ops_pb2.GetMeshHealthRequest(), metadata=admin)
    assert reply.status == ops_pb2.SERVING_STATUS_SERVING
    assert [r.service for r in reply.services] == list(registry.names())
    for report in reply.services:
        assert report.error == ""
        assert report.health.service == report.service
        assert report.health.version
        (database,) = report.health.dependencies
        # The admin's credential went along: the peer showed what its check said.
        assert database.detail == DETAIL.format(service=report.service)


async def test_a_service_that_does_not_answer_is_listed_with_the_error(mesh, ops, admin):
    down = registry.names()[0]
    await mesh.pop(down).stop()
    reply = await ops.GetMeshHealth(ops_pb2.GetMeshHealthRequest(), metadata=admin)
    assert reply.status == ops_pb2.SERVING_STATUS_NOT_SERVING
    report = reply.services[0]
    assert report.service == down
    assert report.error.startswith("UNAVAILABLE")
    assert not report.HasField("health")
    assert all(r.health.status == ops_pb2.SERVING_STATUS_SERVING for r in reply.services[1:])


async def test_monitoring_views_keep_their_part_of_each_health(mesh, ops, admin):
    kinect = mesh["kinect"].monitor
    kinect.vitals.latencies.record(METHOD, 0.02, ok=False)
    await kinect.snapshot()
    api = await ops.GetApiMonitoring(ops_pb2.GetApiMonitoringRequest(), metadata=admin)
    by_service = {r.service: r.health for r in api.services}
    assert set(by_service) == set(registry.names())
    (figures,) = by_service["kinect"].api.methods
    assert (figures.method, figures.calls, figures.errors) == (METHOD, 1, 1)
    assert not by_service["kinect"].dependencies  # the api view only
    assert by_service["kinect"].status == ops_pb2.SERVING_STATUS_SERVING

    system = await ops.GetSystemMonitoring(ops_pb2.GetSystemMonitoringRequest(), metadata=admin)
    for report in system.services:
        assert report.health.system.memory_percent > 0
        assert not report.health.HasField("api")
    alerts = await ops.GetAlertMonitoring(ops_pb2.GetAlertMonitoringRequest(), metadata=admin)
    assert [r.service for r in alerts.services] == list(registry.names())
    assert all(not r.health.HasField("system") for r in alerts.services)


async def test_only_admins_read_per_rpc_figures_of_one_service(mesh, ops, tokens, admin):
    kinect = mesh["kinect"].monitor
    kinect.vitals.latencies.record(METHOD, 0.02)
    await kinect.snapshot()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh['kinect'].port}") as channel:
        stub = ops_pb2_grpc.OpsServiceStub(channel)
        request = ops_pb2.GetHealthRequest(service="kinect")
        as_user = await stub.GetHealth(request, metadata=tokens.metadata(roles=("user",)))
        as_admin = await stub.GetHealth(request, metadata=admin)
    assert as_user.health.api.calls == 1
    assert not as_user.health.api.methods
    assert [m.method for m in as_admin.health.api.methods] == [METHOD]


@pytest.mark.parametrize(
    "rpc",
    [
        ("GetMeshHealth", ops_pb2.GetMeshHealthRequest()),
        ("GetSystemMonitoring", ops_pb2.GetSystemMonitoringRequest()),
        ("GetApiMonitoring", ops_pb2.GetApiMonitoringRequest()),
        ("GetAlertMonitoring", ops_pb2.GetAlertMonitoringRequest()),
        ("GetRecentErrors", ops_pb2.GetRecentErrorsRequest(service="meetings")),
        ("Drain", ops_pb2.DrainRequest(service="meetings")),
        ("CreateBackup", ops_pb2.CreateBackupRequest(service="meetings")),
        ("ListBackups", ops_pb2.ListBackupsRequest(service="meetings")),
        ("CreateMeshBackup", ops_pb2.CreateMeshBackupRequest()),
    ],
    ids=lambda rpc: rpc[0],
)
async def test_the_ops_views_and_the_drain_are_for_admins(mesh, ops, tokens, rpc):
    name, request = rpc
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await getattr(ops, name)(request, metadata=tokens.metadata(roles=("user",)))
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await getattr(ops, name)(request)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert not any(service.stop_requested.is_set() for service in mesh.values())


async def test_admins_read_the_recent_errors_of_a_service(mesh, tokens, admin):
    logging.getLogger("voka.test.mesh_ops").error("the model store is gone")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh['kinect'].port}") as channel:
        stub = ops_pb2_grpc.OpsServiceStub(channel)
        request = ops_pb2.GetRecentErrorsRequest(service="kinect")
        reply = await stub.GetRecentErrors(request, metadata=admin)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetRecentErrors(request, metadata=tokens.metadata(roles=("user",)))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.GetRecentErrors(
                ops_pb2.GetRecentErrorsRequest(service="speech"), metadata=admin
            )
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    newest = reply.entries[0]
    assert (newest.logger, newest.message) == ("voka.test.mesh_ops", "the model store is gone")


async def test_admins_back_up_a_service_and_list_its_backups(mesh, admin):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh[BACKED_UP].port}") as channel:
        stub = ops_pb2_grpc.OpsServiceStub(channel)
        request = ops_pb2.ListBackupsRequest(service=BACKED_UP)
        assert not (await stub.ListBackups(request, metadata=admin)).backups
        created = await stub.CreateBackup(
            ops_pb2.CreateBackupRequest(service=BACKED_UP), metadata=admin
        )
        listed = await stub.ListBackups(request, metadata=admin)
        one = ops_pb2.ListBackupsRequest(service=BACKED_UP, page_size=1)
        first_page = await stub.ListBackups(one, metadata=admin)
        one.page_token = "not-a-token"
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListBackups(one, metadata=admin)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in str(refused.value.details())
    backup = created.backup
    assert list(listed.backups) == [backup]
    assert (list(first_page.backups), first_page.next_page_token) == ([backup], "")
    assert (backup.service, backup.instance) == (BACKED_UP, mesh[BACKED_UP].monitor.instance)
    path = mesh[BACKED_UP].resources.settings.backups_path / backup.file
    assert backup.file.startswith(f"{BACKED_UP}-")
    assert path.suffix == ".db"
    assert backup.size_bytes == path.stat().st_size > 0
    with closing(sqlite3.connect(path)) as copy:  # the service's migrated schema, copied
        (version,) = copy.execute("SELECT count(*) FROM alembic_version").fetchone()
    assert version >= 1


async def test_a_service_without_a_database_or_of_another_name_has_no_backups(mesh, admin):
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh['kinect'].port}") as channel:
        stub = ops_pb2_grpc.OpsServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.CreateBackup(ops_pb2.CreateBackupRequest(service="kinect"), metadata=admin)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "no database" in (err.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.ListBackups(ops_pb2.ListBackupsRequest(service="meetings"), metadata=admin)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_a_mesh_backup_asks_every_service_with_a_database(mesh, ops, admin):
    reply = await ops.CreateMeshBackup(ops_pb2.CreateMeshBackupRequest(), metadata=admin)
    with_database = [n for n in registry.names() if registry.declaration(n).migrations]
    assert [r.service for r in reply.services] == with_database
    reports = {r.service: r for r in reply.services}
    assert reports[BACKED_UP].error == ""
    assert reports[BACKED_UP].backup.size_bytes > 0
    for service in set(with_database) - {BACKED_UP}:  # declared with one, run here without
        expected = f"FAILED_PRECONDITION: {service} has no database to back up"
        assert reports[service].error == expected
        assert not reports[service].HasField("backup")


async def test_a_drained_process_stops_serving_and_returns(tokens, tmp_path, admin):
    """`run` serves until its stop is requested: SIGTERM, or an admin's Drain. Then it drains
    (NOT_SERVING first), stops and returns, and the process exits for Kubernetes to restart."""
    (port,) = free_ports(1)
    settings = Settings(
        service="meetings",
        port=port,
        data_dir=tmp_path,
        jwks_file=tokens.jwks_file,
        drain_seconds=0.0,
        health_interval_seconds=3600.0,
    )

    async def build(resources: Resources) -> list[Registration]:
        return []

    serving = asyncio.create_task(
        server._serve_until_signal(ServiceSpec(name="meetings", build=build, bus=False), settings)
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = ops_pb2_grpc.OpsServiceStub(channel)
        request = ops_pb2.DrainRequest(service="meetings")
        reply = await _when_up(lambda: stub.Drain(request, metadata=admin))
    assert reply.instance.endswith(f":{os.getpid()}")
    await asyncio.wait_for(serving, timeout=10)


async def _when_up(call: Callable[[], Awaitable[ops_pb2.DrainResponse]]) -> ops_pb2.DrainResponse:
    """The call's answer once the server is up (it starts in a task beside the test)."""
    for _ in range(100):
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            await asyncio.sleep(0.05)
    raise AssertionError("the server never came up")
