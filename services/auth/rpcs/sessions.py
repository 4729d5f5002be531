"""Sessions (refresh-token families): the caller's own, or any user's for an admin; logout ends
the caller's current one (or all), revoking one ends it wherever it is used."""

from __future__ import annotations

from google.protobuf.message import Message

from services.auth import convert, tokens
from services.auth import validation as check
from services.auth.context import SESSION, parse, session_of, user_id_in
from services.auth.rpcs.base import AuthRpcs, Context, deny_bearer
from services.auth.sessions import Revoked
from services.auth.store import SESSION_ORDER, SessionRecord, Stores
from voka import authn, pagination, tenancy
from voka.auth.v1 import auth_pb2


class SessionRpcs(AuthRpcs):
    """Logout, ListSessions, RevokeSession."""

    async def Logout(
        self, request: auth_pb2.LogoutRequest, context: Context
    ) -> auth_pb2.LogoutResponse:
        identity = authn.caller()
        client = self._clients.of(context)
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as tx:
            rows = await self._logout_sessions(tx, identity, request, context)
            reason = auth_pb2.REVOCATION_REASON_LOGOUT
            await self._sessions.revoke(tx, rows, reason, identity.subject, revoked)
            await deny_bearer(tx, identity, reason, revoked)
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_LOGOUT,
                client,
                actor=identity.subject,
                user=identity.subject,
                details={"sessions": revoked.count},
            )
            events.extend(revoked.events)
        return auth_pb2.LogoutResponse(revoked_session_count=revoked.count)

    async def _logout_sessions(
        self,
        tx: Stores,
        identity: authn.Identity,
        request: auth_pb2.LogoutRequest,
        context: Context,
    ) -> list[SessionRecord]:
        user_id = identity.subject.removeprefix("users/")
        active = await tx.sessions.active(user_id)
        if request.all_sessions:
            return active
        wanted = session_of(context)
        if request.refresh_token:
            found = await tx.refresh_tokens.get(tokens.digest(request.refresh_token))
            wanted = found.session_id if found else ""
        return [row for row in active if row.id == wanted]

    async def ListSessions(
        self, request: auth_pb2.ListSessionsRequest, context: Context
    ) -> auth_pb2.ListSessionsResponse:
        async with self._read() as stores:
            user = await self._named_user(stores.users, request.parent, "parent")
            query = pagination.fingerprint("sessions", user.id)
            page = check.page(request.page_size, request.page_token, SESSION_ORDER, query)
            listing = await stores.sessions.page(user.id, page)
        current = session_of(context)
        return auth_pb2.ListSessionsResponse(
            sessions=[convert.session(r, current) for r in listing.items],
            next_page_token=pagination.next_token(SESSION_ORDER, query, listing),
        )

    async def RevokeSession(
        self, request: auth_pb2.RevokeSessionRequest, context: Context
    ) -> auth_pb2.RevokeSessionResponse:
        user, session_id = parse(SESSION, request.name, "name")
        identity = authn.caller()
        events: list[Message] = []
        revoked = Revoked()
        async with self._tx(events) as tx:
            row = await tx.sessions.get(session_id)
            if row is not None and (row.user_id != user_id_in(user) or row.revoke_time is not None):
                row = None  # another user's, or over: not there under this name
            tenancy.require_visible(row.owner if row else None, "Session", request.name)
            assert row is not None
            reason = auth_pb2.REVOCATION_REASON_SESSION_REVOKED
            await self._sessions.revoke(tx, [row], reason, identity.subject, revoked)
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_SESSION_REVOKED,
                self._clients.of(context),
                actor=identity.subject,
                user=row.owner,
                resource=request.name,
            )
            events.extend(revoked.events)
        return auth_pb2.RevokeSessionResponse()
