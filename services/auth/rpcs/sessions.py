"""The caller's sessions (refresh-token families): logout, list, revoke one."""

from __future__ import annotations

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import convert, store, tokens
from services.auth import validation as check
from services.auth.context import (
    SESSION,
    parse,
    session_of,
    target,
)
from services.auth.rpcs.base import A, AuthRpcs, Context, deny_bearer
from services.auth.sessions import Revoked
from services.auth.store import Page, Row
from voka import authn, errors


class SessionRpcs(AuthRpcs):
    """Logout, ListSessions, RevokeSession."""

    async def Logout(self, request: A.LogoutRequest, context: Context) -> A.LogoutResponse:
        identity = authn.caller()
        client = self._clients.of(context)
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            rows = await self._logout_sessions(db, identity, request, context)
            reason = A.REVOCATION_REASON_LOGOUT
            await self._sessions.revoke(db, rows, reason, identity.subject, revoked)
            await deny_bearer(db, identity, reason, revoked)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_LOGOUT,
                client,
                actor=identity.subject,
                user=identity.subject,
                details={"sessions": revoked.count},
            )
            events.extend(revoked.events)
        return A.LogoutResponse(revoked_session_count=revoked.count)

    async def _logout_sessions(
        self, db: AsyncSession, identity: authn.Identity, request: A.LogoutRequest, context: Context
    ) -> list[Row]:
        user_id = identity.subject.removeprefix("users/")
        active = await store.active_sessions(db, user_id)
        if request.all_sessions:
            return active
        wanted = session_of(context)
        if request.refresh_token:
            found = await store.refresh_token(db, tokens.digest(request.refresh_token))
            wanted = found.session_id if found else ""
        return [row for row in active if row.id == wanted]

    async def ListSessions(
        self, request: A.ListSessionsRequest, context: Context
    ) -> A.ListSessionsResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        async with self._db() as db:
            user = await self._owned_user(db, request.parent, "parent")
            rows = await store.active_sessions(db, user.id, Page(page.size + 1, page.offset))
        current = session_of(context)
        return A.ListSessionsResponse(
            sessions=[convert.session(r, current) for r in rows[: page.size]],
            next_page_token=page.next_token if len(rows) > page.size else "",
        )

    async def RevokeSession(
        self, request: A.RevokeSessionRequest, context: Context
    ) -> A.RevokeSessionResponse:
        user, session_id = parse(SESSION, request.name, "name")
        identity = authn.caller()
        user_id = target(identity, user, "Session", request.name)
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as db:
            row = await store.session_by_id(db, session_id)
            if row is None or row.user_id != user_id or row.revoke_time is not None:
                raise errors.not_found("Session", request.name)
            reason = A.REVOCATION_REASON_SESSION_REVOKED
            await self._sessions.revoke(db, [row], reason, identity.subject, revoked)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_SESSION_REVOKED,
                self._clients.of(context),
                actor=identity.subject,
                user=f"users/{user_id}",
                resource=request.name,
            )
            events.extend(revoked.events)
        return A.RevokeSessionResponse()
