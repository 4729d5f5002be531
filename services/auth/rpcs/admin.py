"""Admin RPCs: listing, disabling and enabling users, roles, and the audit log."""

from __future__ import annotations

from typing import Any, cast

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import convert, store
from services.auth import validation as check
from services.auth.context import (
    AUDIT_EVENT,
    parse,
)
from services.auth.rpcs.base import A, AuthRpcs, Context
from services.auth.sessions import Revoked
from services.auth.store import Client, Page, Row
from voka import authn, errors
from voka.auth.v1 import events_pb2
from voka.errors import FieldViolation


class AdminRpcs(AuthRpcs):
    """ListUsers, DisableUser, EnableUser, SetUserRole and the audit log."""

    async def ListUsers(self, request: A.ListUsersRequest, context: Context) -> A.ListUsersResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        clauses = store.user_filters(request.query.strip(), request.role, request.state)
        async with self._db() as db:
            rows, total = await store.list_users(db, clauses, page)
        return A.ListUsersResponse(
            users=[convert.user(r) for r in rows],
            next_page_token=page.next_token if page.offset + len(rows) < total else "",
            total_size=total,
        )

    async def DisableUser(
        self, request: A.DisableUserRequest, context: Context
    ) -> A.DisableUserResponse:
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            row = await self._owned_user(db, request.name, "name")
            if f"users/{row.id}" == identity.subject:
                raise errors.failed_precondition("an admin cannot disable itself", "SELF")
            reason = A.REVOCATION_REASON_USER_DISABLED
            await self._sessions.revoke_all(db, row.id, reason, identity.subject, revoked)
            row = await store.update_user(
                db,
                row.id,
                disabled=True,
                state_reason=request.reason[:500],
                update_time=store.now(),
            )
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_USER_DISABLED,
                self._clients.of(context),
                actor=identity.subject,
                user=f"users/{row.id}",
                reason=request.reason,
            )
            events.extend(revoked.events)
            events.append(
                events_pb2.UserDisabledEvent(
                    user=f"users/{row.id}",
                    actor=identity.subject,
                    reason=request.reason,
                    event_time=convert.timestamp(store.now()),
                )
            )
        return A.DisableUserResponse(user=convert.user(row))

    async def EnableUser(
        self, request: A.EnableUserRequest, context: Context
    ) -> A.EnableUserResponse:
        identity = authn.caller()
        events: list[Message] = []
        async with self._tx(events) as db:
            row = await self._owned_user(db, request.name, "name")
            row = await store.update_user(
                db,
                row.id,
                disabled=False,
                state_reason="",
                lock_expire_time=None,
                consecutive_failures=0,
                update_time=store.now(),
            )
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_USER_ENABLED,
                self._clients.of(context),
                actor=identity.subject,
                user=f"users/{row.id}",
            )
            events.append(
                events_pb2.UserEnabledEvent(
                    user=f"users/{row.id}",
                    actor=identity.subject,
                    event_time=convert.timestamp(store.now()),
                )
            )
        return A.EnableUserResponse(user=convert.user(row))

    async def SetUserRole(
        self, request: A.SetUserRoleRequest, context: Context
    ) -> A.SetUserRoleResponse:
        if request.role not in convert.ROLE_NAMES:
            raise errors.invalid_argument([FieldViolation("role", "ROLE_USER or ROLE_ADMIN")])
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            row = await self._owned_user(db, request.name, "name")
            old = row.role
            if old == A.ROLE_ADMIN and request.role != A.ROLE_ADMIN:
                if await store.admin_count(db) <= 1:
                    raise errors.failed_precondition(
                        "the last admin cannot be demoted", "LAST_ADMIN"
                    )
                reason = A.REVOCATION_REASON_ROLE_CHANGED
                await self._sessions.revoke_all(db, row.id, reason, identity.subject, revoked)
            row = await store.update_user(db, row.id, role=request.role, update_time=store.now())
            await self._record_role_change(
                db,
                row,
                old=old,
                actor=identity.subject,
                client=self._clients.of(context),
                events=events,
            )
            events.extend(revoked.events)
        return A.SetUserRoleResponse(user=convert.user(row))

    async def _record_role_change(
        self,
        db: AsyncSession,
        row: Row,
        *,
        old: int,
        actor: str,
        client: Client,
        events: list[Message],
    ) -> None:
        await store.audit(
            db,
            A.AUDIT_EVENT_TYPE_ROLE_CHANGED,
            client,
            actor=actor,
            user=f"users/{row.id}",
            details={"old_role": A.Role.Name(old), "new_role": A.Role.Name(row.role)},  # type: ignore[arg-type]
        )
        events.append(
            events_pb2.UserRoleChangedEvent(
                user=f"users/{row.id}",
                old_role=cast("A.Role.ValueType", old),
                new_role=row.role,
                actor=actor,
                event_time=convert.timestamp(store.now()),
            )
        )

    async def ListAuditEvents(
        self, request: A.ListAuditEventsRequest, context: Context
    ) -> A.ListAuditEventsResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        table = store.audit_events
        clauses: list[Any] = []
        if request.types:
            clauses.append(table.c.type.in_(list(request.types)))
        if request.user:
            clauses.append((table.c.user == request.user) | (table.c.actor == request.user))
        if request.ip_address:
            clauses.append(table.c.ip_address == request.ip_address)
        if request.HasField("start_time"):
            clauses.append(table.c.event_time >= request.start_time.ToDatetime(store.now().tzinfo))
        if request.HasField("end_time"):
            clauses.append(table.c.event_time < request.end_time.ToDatetime(store.now().tzinfo))
        async with self._db() as db:
            rows, total = await store.list_audit_events(db, clauses, page)
        return A.ListAuditEventsResponse(
            audit_events=[convert.audit_event(r) for r in rows],
            next_page_token=page.next_token if page.offset + len(rows) < total else "",
            total_size=total,
        )

    async def GetAuditEvent(
        self, request: A.GetAuditEventRequest, context: Context
    ) -> A.GetAuditEventResponse:
        (event_id,) = parse(AUDIT_EVENT, request.name, "name")
        async with self._db() as db:
            row = await store.audit_event(db, event_id)
        if row is None:
            raise errors.not_found("AuditEvent", request.name)
        return A.GetAuditEventResponse(audit_event=convert.audit_event(row))
