"""The operations views for admins: the health of every service (`GET /api/v1/health`), its
monitoring slices (`GET /api/v1/monitoring/{system,api,alerts}`), one service's recent errors
(`GET /api/v1/monitoring/{service}/errors`, voka/error_log.py), the drain of a replica
(`POST /api/v1/health/{service}:drain`), and backups of the databases (`POST /api/v1/backups`
for every service with one, `POST|GET /api/v1/backups/{service}` for one, voka/backup.py).

Every process serves them (they are OpsService RPCs, registered by the kit), so the gateway can
send them to any one service. The answering process asks every declared service's GetHealth in
parallel, itself included, under a short deadline: each service's health loop already holds its
dependency checks, system figures, per-RPC figures and alerts, so asking costs each a copy, and
the views agree with what each service reports on its own. A service that does not answer in
time is listed with the error, never left out: a missing service is the first thing an operator
needs to see.

The admin's own credential travels with the fan-out, so the peers show it what they show admins
(what a failed dependency said, the per-RPC figures). Only an admin gets here (ACCESS_ADMIN,
enforced by the kit before the handler runs), so forwarding it gives nobody more than they have.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message

from voka import errors, pagination, peer_calls
from voka.authn import API_KEY_HEADER
from voka.backup import BackupError, BackupFile, BackupRunning, Shelf
from voka.error_log import RecentErrors
from voka.health import HealthMonitor, OpsServicer
from voka.ops.v1 import ops_pb2, ops_pb2_grpc

log = logging.getLogger("voka.ops")

# How long each service has to answer; its answer is a copy of its loop's latest result.
ASK_TIMEOUT = 2.0
# How long each service has to take its backup when the whole mesh is backed up at once.
BACKUP_TIMEOUT = 1800.0
FORWARDED = ("authorization", API_KEY_HEADER)
# The fields of a Health every view keeps, so each slice says whose figures they are.
IDENTITY = ("service", "version", "status")
Metadata = tuple[tuple[str, str], ...]
Context = grpc.aio.ServicerContext[Any, Any]


class MeshOpsServicer(OpsServicer):
    """OpsService: one service's health (OpsServicer), the mesh-wide views, the process's
    recent errors, its drain, and backups."""

    def __init__(
        self,
        monitor: HealthMonitor,
        addresses: Mapping[str, str],
        recent_errors: RecentErrors,
        drain: Callable[[], None],
        backups: Backups,
        *,
        ask_timeout: float = ASK_TIMEOUT,
    ) -> None:
        """`addresses`: every declared service's gRPC address, by name, in the order to list.
        `drain`: asks the process to stop as on SIGTERM (it drains, then exits)."""
        super().__init__(monitor)
        self._addresses = dict(addresses)
        self._recent_errors = recent_errors
        self._drain = drain
        self._backups = backups
        self._ask_timeout = ask_timeout
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()

    async def GetMeshHealth(
        self, request: ops_pb2.GetMeshHealthRequest, context: Context
    ) -> ops_pb2.GetMeshHealthResponse:
        reports = await self._ask_all(context)
        serving = all(r.health.status == ops_pb2.SERVING_STATUS_SERVING for r in reports)
        status = ops_pb2.SERVING_STATUS_SERVING if serving else ops_pb2.SERVING_STATUS_NOT_SERVING
        return ops_pb2.GetMeshHealthResponse(status=status, services=reports)

    async def GetSystemMonitoring(
        self, request: ops_pb2.GetSystemMonitoringRequest, context: Context
    ) -> ops_pb2.GetSystemMonitoringResponse:
        return ops_pb2.GetSystemMonitoringResponse(services=await self._view(context, "system"))

    async def GetApiMonitoring(
        self, request: ops_pb2.GetApiMonitoringRequest, context: Context
    ) -> ops_pb2.GetApiMonitoringResponse:
        return ops_pb2.GetApiMonitoringResponse(services=await self._view(context, "api"))

    async def GetAlertMonitoring(
        self, request: ops_pb2.GetAlertMonitoringRequest, context: Context
    ) -> ops_pb2.GetAlertMonitoringResponse:
        return ops_pb2.GetAlertMonitoringResponse(services=await self._view(context, "alerts"))

    async def GetRecentErrors(
        self, request: ops_pb2.GetRecentErrorsRequest, context: Context
    ) -> ops_pb2.GetRecentErrorsResponse:
        self._check_name(request.service)
        return ops_pb2.GetRecentErrorsResponse(entries=self._recent_errors.entries())

    async def Drain(self, request: ops_pb2.DrainRequest, context: Context) -> ops_pb2.DrainResponse:
        self._check_name(request.service)
        log.warning("draining and exiting on an admin's request")
        self._drain()  # the stop runs after this answer: the process drains its calls first
        return ops_pb2.DrainResponse(instance=self._monitor.instance)

    async def CreateBackup(
        self, request: ops_pb2.CreateBackupRequest, context: Context
    ) -> ops_pb2.CreateBackupResponse:
        shelf = self._shelf(request.service)
        try:
            taken = await shelf.take()
        except BackupRunning as exc:
            raise errors.aborted(str(exc)) from exc
        except BackupError as exc:
            raise errors.failed_precondition(str(exc), "BACKUP", request.service) from exc
        log.info("backed up the database to %s", taken.path)
        return ops_pb2.CreateBackupResponse(backup=self._backup_message(taken))

    async def ListBackups(
        self, request: ops_pb2.ListBackupsRequest, context: Context
    ) -> ops_pb2.ListBackupsResponse:
        size, bad_size = pagination.page_size(request.page_size)
        query = pagination.fingerprint(request.service)
        offset, bad_token = pagination.offset_of(request.page_token, query)
        if bad_size or bad_token:
            raise errors.invalid_argument([*bad_size, *bad_token])
        shelf = self._shelf(request.service)
        files = await asyncio.to_thread(shelf.files)  # a directory read: off the event loop
        more = offset + size < len(files)
        return ops_pb2.ListBackupsResponse(
            backups=[self._backup_message(f) for f in files[offset : offset + size]],
            next_page_token=pagination.offset_token(query, offset + size) if more else "",
        )

    async def CreateMeshBackup(
        self, request: ops_pb2.CreateMeshBackupRequest, context: Context
    ) -> ops_pb2.CreateMeshBackupResponse:
        metadata = _credential(context)
        asks = (self._ask_backup(service, metadata) for service in self._backups.databases)
        return ops_pb2.CreateMeshBackupResponse(services=await asyncio.gather(*asks))

    def _shelf(self, service: str) -> Shelf:
        self._check_name(service)
        if self._backups.shelf is None:
            raise errors.failed_precondition(
                f"{service} has no database to back up", "NO_DATABASE", service
            )
        return self._backups.shelf

    def _backup_message(self, taken: BackupFile) -> ops_pb2.Backup:
        message = ops_pb2.Backup(
            service=self._monitor.service,
            file=taken.path.name,
            size_bytes=taken.size_bytes,
            instance=self._monitor.instance,
        )
        message.create_time.FromDatetime(taken.create_time)
        return message

    async def _ask_backup(self, service: str, metadata: Metadata) -> ops_pb2.BackupReport:
        """Waits for the connection (within BACKUP_TIMEOUT): a service restarting, or a channel
        still backing off after one restarted, must not fail a nightly backup. The health views
        do not wait: a service down is news there."""
        stub = ops_pb2_grpc.OpsServiceStub(self._channel(service))
        request = ops_pb2.CreateBackupRequest(service=service)
        try:
            reply = await stub.CreateBackup(
                request, timeout=BACKUP_TIMEOUT, metadata=metadata, wait_for_ready=True
            )
        except grpc.aio.AioRpcError as exc:
            return ops_pb2.BackupReport(service=service, error=_error_text(exc))
        return ops_pb2.BackupReport(service=service, backup=reply.backup)

    async def _view(self, context: Context, part: str) -> list[ops_pb2.ServiceReport]:
        """Every service's report, its health reduced to `part` and who it is."""
        reports = await self._ask_all(context)
        for report in reports:
            if report.HasField("health"):
                _keep_only(report.health, (*IDENTITY, part))
        return reports

    async def _ask_all(self, context: Context) -> list[ops_pb2.ServiceReport]:
        metadata = _credential(context)
        asks = (self._ask(service, metadata) for service in self._addresses)
        return list(await asyncio.gather(*asks))

    async def _ask(self, service: str, metadata: Metadata) -> ops_pb2.ServiceReport:
        stub = ops_pb2_grpc.OpsServiceStub(self._channel(service))
        request = ops_pb2.GetHealthRequest(service=service)
        try:
            reply = await stub.GetHealth(request, timeout=self._ask_timeout, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            return ops_pb2.ServiceReport(service=service, error=_error_text(exc))
        return ops_pb2.ServiceReport(service=service, health=reply.health)

    def _channel(self, service: str) -> grpc.aio.Channel:
        """One channel per service, opened on first use (inside the loop) and kept."""
        if service not in self._channels:
            self._channels[service] = peer_calls.open_channel(self._addresses[service])
        return self._channels[service]


@dataclass(frozen=True)
class Backups:
    """What the backup RPCs need: this process's shelf (None: the service has no database) and
    the services a mesh-wide backup asks (those with a database), in the order to list."""

    shelf: Shelf | None
    databases: Sequence[str]


def _error_text(exc: grpc.aio.AioRpcError) -> str:
    return f"{exc.code().name}: {exc.details() or ''}".rstrip(": ")


def _credential(context: Context) -> Metadata:
    """The caller's credential headers, to ask the peers as the same admin."""
    return tuple(
        (str(key), str(value))
        for key, value in context.invocation_metadata() or ()
        if key in FORWARDED
    )


def _keep_only(health: ops_pb2.Health, kept: Sequence[str]) -> None:
    message: Message = health  # field names come from the descriptor, not literals
    for field in ops_pb2.Health.DESCRIPTOR.fields:
        if field.name not in kept:
            message.ClearField(field.name)
