"""The operations views for admins: the health of every service (`GET /api/v1/health`), its
monitoring slices (`GET /api/v1/monitoring/{system,api,alerts}`), one service's recent errors
(`GET /api/v1/monitoring/{service}/errors`, voka/error_log.py), and the drain of a replica
(`POST /api/v1/health/{service}:drain`).

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
from typing import Any

import grpc
from google.protobuf.message import Message

from voka import peer_calls
from voka.authn import API_KEY_HEADER
from voka.error_log import RecentErrors
from voka.health import HealthMonitor, OpsServicer
from voka.ops.v1 import ops_pb2, ops_pb2_grpc

log = logging.getLogger("voka.ops")

# How long each service has to answer; its answer is a copy of its loop's latest result.
ASK_TIMEOUT = 2.0
FORWARDED = ("authorization", API_KEY_HEADER)
# The fields of a Health every view keeps, so each slice says whose figures they are.
IDENTITY = ("service", "version", "status")
Metadata = tuple[tuple[str, str], ...]
Context = grpc.aio.ServicerContext[Any, Any]


class MeshOpsServicer(OpsServicer):
    """OpsService: one service's health (OpsServicer), the mesh-wide views, the process's
    recent errors and its drain."""

    def __init__(
        self,
        monitor: HealthMonitor,
        addresses: Mapping[str, str],
        recent_errors: RecentErrors,
        drain: Callable[[], None],
        ask_timeout: float = ASK_TIMEOUT,
    ) -> None:
        """`addresses`: every declared service's gRPC address, by name, in the order to list.
        `drain`: asks the process to stop as on SIGTERM (it drains, then exits)."""
        super().__init__(monitor)
        self._addresses = dict(addresses)
        self._recent_errors = recent_errors
        self._drain = drain
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
            error = f"{exc.code().name}: {exc.details() or ''}".rstrip(": ")
            return ops_pb2.ServiceReport(service=service, error=error)
        return ops_pb2.ServiceReport(service=service, health=reply.health)

    def _channel(self, service: str) -> grpc.aio.Channel:
        """One channel per service, opened on first use (inside the loop) and kept."""
        if service not in self._channels:
            self._channels[service] = peer_calls.open_channel(self._addresses[service])
        return self._channels[service]


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
