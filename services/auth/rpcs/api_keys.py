"""API keys: created (shown once), listed, revoked, and resolved for this service and, through
AuthenticateApiKey, for every other service's kit."""

from __future__ import annotations

import hmac
from datetime import timedelta

from google.protobuf import duration_pb2
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import convert, store, tokens
from services.auth import validation as check
from services.auth.context import (
    API_KEY,
    parse,
    target,
)
from services.auth.rpcs.base import A, AuthRpcs, Context, epoch
from services.auth.sessions import roles_of
from services.auth.store import Client, Page, Row
from voka import authn, errors, wellknown
from voka.auth.v1 import events_pb2
from voka.errors import FieldViolation


class ApiKeyRpcs(AuthRpcs):
    """The API-key RPCs and their resolution."""

    async def CreateApiKey(
        self, request: A.CreateApiKeyRequest, context: Context
    ) -> A.CreateApiKeyResponse:
        identity = authn.caller()
        given = request.api_key
        expire = (
            given.expire_time.ToDatetime(store.now().tzinfo)
            if given.HasField("expire_time")
            else None
        )
        limit = store.now() + timedelta(days=self._settings.auth_api_key_max_days)
        problems = []
        if not 1 <= len(given.display_name.strip()) <= 100:
            problems.append(FieldViolation("api_key.display_name", "1 to 100 characters"))
        if expire is not None and not store.now() < expire <= limit:
            problems.append(
                FieldViolation(
                    "api_key.expire_time", "in the future, within the maximum key lifetime"
                )
            )
        check.check(problems)
        secret, prefix = tokens.new_api_key()
        events: list[Message] = []
        async with self._tx(events) as db:
            user = await self._owned_user(db, request.parent, "parent")
            row = await store.insert_api_key(
                db,
                user_id=user.id,
                display_name=given.display_name.strip(),
                key_prefix=prefix,
                secret_hash=tokens.digest(secret),
                expire_time=expire,
            )
            key = convert.api_key(row)
            await store.audit(
                db,
                A.AUDIT_EVENT_TYPE_API_KEY_CREATED,
                self._clients.of(context),
                actor=identity.subject,
                user=f"users/{user.id}",
                resource=key.name,
            )
            events.append(
                events_pb2.ApiKeyCreatedEvent(
                    api_key=key.name,
                    user=f"users/{user.id}",
                    display_name=key.display_name,
                    key_prefix=prefix,
                    expire_time=convert.timestamp(expire),
                    actor=identity.subject,
                    create_time=key.create_time,
                )
            )
        return A.CreateApiKeyResponse(api_key=key, secret=secret)

    async def ListApiKeys(
        self, request: A.ListApiKeysRequest, context: Context
    ) -> A.ListApiKeysResponse:
        page = Page(check.page_size(request.page_size), check.page_offset(request.page_token))
        async with self._db() as db:
            user = await self._owned_user(db, request.parent, "parent")
            rows = await store.list_api_keys(
                db, user.id, request.show_inactive, Page(page.size + 1, page.offset)
            )
        return A.ListApiKeysResponse(
            api_keys=[convert.api_key(r) for r in rows[: page.size]],
            next_page_token=page.next_token if len(rows) > page.size else "",
        )

    async def _api_key(self, db: AsyncSession, name: str) -> Row:
        user, key_id = parse(API_KEY, name, "name")
        user_id = target(authn.caller(), user, "ApiKey", name)
        row = await store.api_key_by_id(db, user_id, key_id)
        if row is None:
            raise errors.not_found("ApiKey", name)
        return row

    async def GetApiKey(self, request: A.GetApiKeyRequest, context: Context) -> A.GetApiKeyResponse:
        async with self._db() as db:
            return A.GetApiKeyResponse(
                api_key=convert.api_key(await self._api_key(db, request.name))
            )

    async def RevokeApiKey(
        self, request: A.RevokeApiKeyRequest, context: Context
    ) -> A.RevokeApiKeyResponse:
        identity = authn.caller()
        events: list[Message] = []
        async with self._tx(events) as db:
            row = await self._api_key(db, request.name)
            if row.revoke_time is None:
                moment = store.now()
                await store.update_api_key(db, row.id, revoke_time=moment)
                await store.audit(
                    db,
                    A.AUDIT_EVENT_TYPE_API_KEY_REVOKED,
                    self._clients.of(context),
                    actor=identity.subject,
                    user=f"users/{row.user_id}",
                    resource=request.name,
                )
                events.append(
                    events_pb2.ApiKeyRevokedEvent(
                        api_key=request.name,
                        user=f"users/{row.user_id}",
                        key_prefix=row.key_prefix,
                        actor=identity.subject,
                        revoke_time=convert.timestamp(moment),
                    )
                )
                row = await self._api_key(db, request.name)
        return A.RevokeApiKeyResponse(api_key=convert.api_key(row))

    async def resolve_api_key(self, secret: str, client: Client) -> tuple[Row, Row]:
        """The key and its owner for a presented secret; UNAUTHENTICATED (and audited) when it
        is unknown, revoked, expired or its owner disabled. Records the use once a minute."""
        async with self._db.begin() as db:
            row = await store.api_key_by_prefix(db, tokens.api_key_prefix(secret))
            good = row is not None and hmac.compare_digest(row.secret_hash, tokens.digest(secret))
            user = await store.user_by_id(db, row.user_id) if good and row else None
            if (
                row is None
                or user is None
                or convert.api_key_state(row) != A.API_KEY_STATE_ACTIVE
                or user.disabled
            ):
                await store.audit(
                    db,
                    A.AUDIT_EVENT_TYPE_API_KEY_REJECTED,
                    client,
                    resource=f"users/{row.user_id}/api-keys/{row.id}" if row else "",
                    details={"key_prefix": tokens.api_key_prefix(secret)},
                )
                raise errors.unauthenticated("API key not valid")
            last = row.last_used_time
            if last is None or store.now() - wellknown.utc(last) > timedelta(minutes=1):
                await store.update_api_key(db, row.id, last_used_time=store.now())
        return row, user

    async def AuthenticateApiKey(
        self, request: A.AuthenticateApiKeyRequest, context: Context
    ) -> A.AuthenticateApiKeyResponse:
        key, user = await self.resolve_api_key(request.api_key, self._clients.of(context))
        return A.AuthenticateApiKeyResponse(
            subject=f"users/{user.id}",
            roles=roles_of(user),
            api_key=f"users/{user.id}/api-keys/{key.id}",
            expire_time=convert.timestamp(key.expire_time),
            cache_ttl=duration_pb2.Duration(seconds=self._settings.auth_api_key_cache_seconds),
        )

    async def ExchangeApiKey(
        self, request: A.ExchangeApiKeyRequest, context: Context
    ) -> A.ExchangeApiKeyResponse:
        key, user = await self.resolve_api_key(request.api_key, self._clients.of(context))
        not_after = wellknown.utc(key.expire_time).timestamp() if key.expire_time else None
        access = self._issuer.issue(f"users/{user.id}", roles_of(user), not_after=not_after)
        return A.ExchangeApiKeyResponse(
            access_token=access.token,
            token_type="Bearer",  # noqa: S106 - the scheme, not a secret
            expires_in=duration_pb2.Duration(seconds=int(access.expires_at - access.issued_at)),
            access_token_expire_time=convert.timestamp(epoch(access.expires_at)),
            api_key=f"users/{user.id}/api-keys/{key.id}",
        )
