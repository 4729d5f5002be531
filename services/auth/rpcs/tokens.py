"""Tokens: refresh-token rotation with reuse detection, the JWKS, service tokens and the
denylist other services load."""

from __future__ import annotations

import hmac

from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import convert, store, tokens
from services.auth import validation as check
from services.auth.rpcs.base import A, AuthRpcs, Context, epoch
from services.auth.sessions import Revoked
from services.auth.store import Client, Page, Row
from voka import errors, wellknown
from voka.auth.v1 import events_pb2


class TokenRpcs(AuthRpcs):
    """RefreshToken, GetJwks, IssueServiceToken, ListRevokedTokens."""

    async def RefreshToken(
        self, request: A.RefreshTokenRequest, context: Context
    ) -> A.RefreshTokenResponse:
        client = self._clients.of(context)
        token_hash = tokens.digest(request.refresh_token)
        events: list[Message] = []
        async with self._tx(events) as db:
            found = await store.refresh_token(db, token_hash)
            session = await store.session_by_id(db, found.session_id) if found else None
            if found is None or session is None or session.revoke_time is not None:
                raise errors.unauthenticated("refresh token not valid")
            if not await store.use_refresh_token(db, token_hash):
                await self._reused(db, session, client, events)
            else:
                return await self._rotate(db, found, session, client)
        raise errors.unauthenticated("refresh token already used; the session is revoked")

    async def _rotate(
        self, db: AsyncSession, found: Row, session: Row, client: Client
    ) -> A.RefreshTokenResponse:
        if wellknown.utc(found.expire_time) <= store.now():
            raise errors.unauthenticated("refresh token expired")
        user = await self._user(db, session.user_id, f"users/{session.user_id}")
        if user.disabled:
            raise errors.permission_denied("account disabled")
        opened = await self._sessions.refresh(db, session, user, client)
        return A.RefreshTokenResponse(**opened.fields())  # type: ignore[arg-type]

    async def _reused(
        self, db: AsyncSession, session: Row, client: Client, events: list[Message]
    ) -> None:
        """A used token again: a copy leaked, so the whole family dies."""
        revoked = Revoked()
        reason = A.REVOCATION_REASON_REFRESH_TOKEN_REUSED
        await self._sessions.revoke(db, [session], reason, "", revoked)
        user = f"users/{session.user_id}"
        name = f"{user}/sessions/{session.id}"
        await store.audit(
            db, A.AUDIT_EVENT_TYPE_REFRESH_TOKEN_REUSED, client, user=user, resource=name
        )
        events.extend(revoked.events)
        events.append(
            events_pb2.RefreshTokenReuseDetectedEvent(
                user=user,
                session=name,
                ip_address=client.ip_address,
                user_agent=client.user_agent,
                event_time=convert.timestamp(store.now()),
            )
        )

    async def GetJwks(self, request: A.GetJwksRequest, context: Context) -> A.GetJwksResponse:
        reply = A.GetJwksResponse()
        json_format.ParseDict(await self._jwks(), reply, ignore_unknown_fields=True)
        return reply

    async def IssueServiceToken(
        self, request: A.IssueServiceTokenRequest, context: Context
    ) -> A.IssueServiceTokenResponse:
        """Only `client_secret` is accepted for now: a client assertion is refused like a bad
        secret, never trusted unchecked."""
        client = self._clients.of(context)
        subject = f"services/{request.service}"
        expected = self._settings.auth_service_secrets.get(request.service, "")
        given = tokens.digest(request.client_secret) if request.client_secret else ""
        good = bool(expected) and bool(given) and hmac.compare_digest(expected, given)
        kind = (
            A.AUDIT_EVENT_TYPE_SERVICE_TOKEN_ISSUED
            if good
            else A.AUDIT_EVENT_TYPE_SERVICE_TOKEN_DENIED
        )
        async with self._db.begin() as db:
            await store.audit(db, kind, client, actor=subject if good else "", resource=subject)
        if not good:
            raise errors.unauthenticated("service credential not valid")
        access = self._issuer.issue(subject, ["service"])
        return A.IssueServiceTokenResponse(
            access_token=access.token,
            token_type="Bearer",  # noqa: S106 - the scheme, not a secret
            expires_in=duration_pb2.Duration(seconds=int(access.expires_at - access.issued_at)),
            access_token_expire_time=convert.timestamp(epoch(access.expires_at)),
        )

    async def ListRevokedTokens(
        self, request: A.ListRevokedTokensRequest, context: Context
    ) -> A.ListRevokedTokensResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        after = (
            request.revoke_time_after.ToDatetime(store.now().tzinfo)
            if request.HasField("revoke_time_after")
            else None
        )
        async with self._db() as db:
            rows = await store.denied_tokens(db, after, Page(page.size + 1, page.offset))
        return A.ListRevokedTokensResponse(
            revoked_tokens=[convert.revoked_token(r) for r in rows[: page.size]],
            next_page_token=page.next_token if len(rows) > page.size else "",
        )
