"""The audit log, for admins (the contract makes both RPCs admin-only): every change of an
account, every sign-in attempt and every credential issued or refused."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC

from services.auth import convert
from services.auth import validation as check
from services.auth.context import AUDIT_EVENT, parse
from services.auth.rpcs.base import AuthRpcs, Context
from services.auth.store import AUDIT_ORDER, AuditFilters
from voka import errors, pagination
from voka.auth.v1 import auth_pb2


class AuditEventRpcs(AuthRpcs):
    """ListAuditEvents and GetAuditEvent."""

    async def ListAuditEvents(
        self, request: auth_pb2.ListAuditEventsRequest, context: Context
    ) -> auth_pb2.ListAuditEventsResponse:
        start = request.start_time.ToDatetime(UTC) if request.HasField("start_time") else None
        end = request.end_time.ToDatetime(UTC) if request.HasField("end_time") else None
        filters = AuditFilters(
            types=tuple(sorted(request.types)),
            user=request.user,
            ip_address=request.ip_address,
            start_time=start,
            end_time=end,
        )
        query = pagination.fingerprint("audit-events", asdict(filters))
        page = check.page(request.page_size, request.page_token, AUDIT_ORDER, query)
        async with self._read() as stores:
            listing = await stores.audit.page(filters, page)
        return auth_pb2.ListAuditEventsResponse(
            audit_events=[convert.audit_event(r) for r in listing.items],
            next_page_token=pagination.next_token(AUDIT_ORDER, query, listing),
            total_size=listing.total,
        )

    async def GetAuditEvent(
        self, request: auth_pb2.GetAuditEventRequest, context: Context
    ) -> auth_pb2.GetAuditEventResponse:
        (event_id,) = parse(AUDIT_EVENT, request.name, "name")
        async with self._read() as stores:
            row = await stores.audit.get(event_id)
        if row is None:
            raise errors.not_found("AuditEvent", request.name)
        return auth_pb2.GetAuditEventResponse(audit_event=convert.audit_event(row))
