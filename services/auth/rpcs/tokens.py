"""Tokens: refresh-token rotation with reuse detection, the JWKS, service tokens and the
denylist other services load."""

from __future__ import annotations

import hmac

from google.protobuf import duration_pb2, json_format
from google.protobuf.message import Message

from services.auth import convert, tokens
from services.auth import validation as check
from services.auth.rpcs.base import AuthRpcs, Context, epoch
from services.auth.sessions import Revoked
from services.auth.store import (
    REVOKED_TOKEN_ORDER,
    Client,
    RefreshTokenRecord,
    SessionRecord,
    Stores,
    now,
)
from voka import errors, pagination, wellknown
from voka.auth.v1 import auth_pb2, events_pb2


class TokenRpcs(AuthRpcs):
    """RefreshToken, GetJwks, IssueServiceToken, ListRevokedTokens."""

    async def RefreshToken(
        self, request: auth_pb2.RefreshTokenRequest, context: Context
    ) -> auth_pb2.RefreshTokenResponse:
        client = self._clients.of(context)
        token_hash = tokens.digest(request.refresh_token)
        events: list[Message] = []
        async with self._tx(events) as tx:
            found = await tx.refresh_tokens.get(token_hash)
            session = await tx.sessions.get(found.session_id) if found else None
            if found is None or session is None or session.revoke_time is not None:
                raise errors.unauthenticated("refresh token not valid")
            if not await tx.refresh_tokens.use(token_hash):
                await self._reused(tx, session, client, events)
            else:
                return await self._rotate(tx, found, session, client)
        raise errors.unauthenticated("refresh token already used; the session is revoked")

    async def _rotate(
        self, tx: Stores, found: RefreshTokenRecord, session: SessionRecord, client: Client
    ) -> auth_pb2.RefreshTokenResponse:
        if wellknown.utc(found.expire_time) <= now():
            raise errors.unauthenticated("refresh token expired")
        user = await tx.users.get(session.user_id)
        if user is None:
            raise errors.not_found("User", session.owner)
        if user.disabled:
            raise errors.permission_denied("account disabled")
        opened = await self._sessions.refresh(tx, session, user, client)
        return auth_pb2.RefreshTokenResponse(**opened.fields())  # type: ignore[arg-type]

    async def _reused(
        self, tx: Stores, session: SessionRecord, client: Client, events: list[Message]
    ) -> None:
        """A used token again: a copy leaked, so the whole family dies."""
        revoked = Revoked()
        reason = auth_pb2.REVOCATION_REASON_REFRESH_TOKEN_REUSED
        await self._sessions.revoke(tx, [session], reason, "", revoked)
        user = session.owner
        name = f"{user}/sessions/{session.id}"
        await tx.audit.record(
            auth_pb2.AUDIT_EVENT_TYPE_REFRESH_TOKEN_REUSED, client, user=user, resource=name
        )
        events.extend(revoked.events)
        events.append(
            events_pb2.RefreshTokenReuseDetectedEvent(
                user=user,
                session=name,
                ip_address=client.ip_address,
                user_agent=client.user_agent,
                event_time=convert.timestamp(now()),
            )
        )

    async def GetJwks(
        self, request: auth_pb2.GetJwksRequest, context: Context
    ) -> auth_pb2.GetJwksResponse:
        reply = auth_pb2.GetJwksResponse()
        json_format.ParseDict(await self._jwks(), reply, ignore_unknown_fields=True)
        return reply

    async def IssueServiceToken(
        self, request: auth_pb2.IssueServiceTokenRequest, context: Context
    ) -> auth_pb2.IssueServiceTokenResponse:
        """Only `client_secret` is accepted for now: a client assertion is refused like a bad
        secret, never trusted unchecked. A `service` that is no service name is refused as such,
        and audited like any refusal."""
        client = self._clients.of(context)
        problems = check.service_problems(request.service)
        if problems:
            async with self._tx() as tx:
                await tx.audit.record(
                    auth_pb2.AUDIT_EVENT_TYPE_SERVICE_TOKEN_DENIED,
                    client,
                    reason="service: not a service name",
                )
            check.check(problems)
        subject = f"services/{request.service}"
        expected = self._settings.auth_service_secrets.get(request.service, "")
        given = tokens.digest(request.client_secret) if request.client_secret else ""
        good = bool(expected) and bool(given) and hmac.compare_digest(expected, given)
        kind = (
            auth_pb2.AUDIT_EVENT_TYPE_SERVICE_TOKEN_ISSUED
            if good
            else auth_pb2.AUDIT_EVENT_TYPE_SERVICE_TOKEN_DENIED
        )
        async with self._tx() as tx:
            await tx.audit.record(kind, client, actor=subject if good else "", resource=subject)
        if not good:
            raise errors.unauthenticated("service credential not valid")
        access = self._issuer.issue(subject, ["service"])
        return auth_pb2.IssueServiceTokenResponse(
            access_token=access.token,
            token_type="Bearer",  # noqa: S106 - the scheme, not a secret
            expires_in=duration_pb2.Duration(seconds=int(access.expires_at - access.issued_at)),
            access_token_expire_time=convert.timestamp(epoch(access.expires_at)),
        )

    async def ListRevokedTokens(
        self, request: auth_pb2.ListRevokedTokensRequest, context: Context
    ) -> auth_pb2.ListRevokedTokensResponse:
        after = (
            request.revoke_time_after.ToDatetime(now().tzinfo)
            if request.HasField("revoke_time_after")
            else None
        )
        query = pagination.fingerprint("revoked-tokens", after)
        page = check.page(request.page_size, request.page_token, REVOKED_TOKEN_ORDER, query)
        async with self._read() as stores:
            listing = await stores.revoked_tokens.page(after, page)
        return auth_pb2.ListRevokedTokensResponse(
            revoked_tokens=[convert.revoked_token(r) for r in listing.items],
            next_page_token=pagination.next_token(REVOKED_TOKEN_ORDER, query, listing),
        )
