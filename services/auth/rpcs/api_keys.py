"""API keys: created (shown once), listed, revoked, and resolved for this service and, through
AuthenticateApiKey, for every other service's kit.

A token exchanged for a key carries the key's id as its `sid`, so revoking the key cuts off
every token exchanged for it (and the owner's cut-offs reach them too: their `sub` is the
owner). A refused key is audited in a transaction of its own: the check itself writes nothing,
and an audit entry written beside it would be rolled back with the refusal."""

from __future__ import annotations

import hmac
from datetime import timedelta

from google.protobuf import duration_pb2
from google.protobuf.message import Message

from services.auth import convert, tokens
from services.auth import validation as check
from services.auth.context import API_KEY, parse, user_id_in
from services.auth.rpcs.base import AuthRpcs, Context, epoch
from services.auth.sessions import Revoked, roles_of
from services.auth.store import API_KEY_ORDER, ApiKeyRecord, ApiKeyStore, Client, UserRecord, now
from voka import authn, errors, pagination, tenancy, wellknown
from voka.auth.v1 import auth_pb2, events_pb2
from voka.errors import FieldViolation


class ApiKeyRpcs(AuthRpcs):
    """The API-key RPCs and their resolution."""

    async def CreateApiKey(
        self, request: auth_pb2.CreateApiKeyRequest, context: Context
    ) -> auth_pb2.CreateApiKeyResponse:
        identity = authn.caller()
        given = request.api_key
        expire = (
            given.expire_time.ToDatetime(now().tzinfo) if given.HasField("expire_time") else None
        )
        limit = now() + timedelta(days=self._settings.auth_api_key_max_days)
        problems = []
        if not 1 <= len(given.display_name.strip()) <= 100:
            problems.append(FieldViolation("api_key.display_name", "1 to 100 characters"))
        if expire is not None and not now() < expire <= limit:
            problems.append(
                FieldViolation(
                    "api_key.expire_time", "in the future, within the maximum key lifetime"
                )
            )
        check.check(problems)
        secret, prefix = tokens.new_api_key()
        events: list[Message] = []
        async with self._tx(events) as tx:
            user = await self._named_user(tx.users, request.parent, "parent")
            row = await tx.api_keys.insert(
                user_id=user.id,
                display_name=given.display_name.strip(),
                key_prefix=prefix,
                secret_hash=tokens.digest(secret),
                expire_time=expire,
            )
            key = convert.api_key(row)
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_API_KEY_CREATED,
                self._clients.of(context),
                actor=identity.subject,
                user=user.name,
                resource=key.name,
            )
            events.append(
                events_pb2.ApiKeyCreatedEvent(
                    api_key=key.name,
                    user=user.name,
                    display_name=key.display_name,
                    key_prefix=prefix,
                    expire_time=convert.timestamp(expire),
                    actor=identity.subject,
                    create_time=key.create_time,
                )
            )
        return auth_pb2.CreateApiKeyResponse(api_key=key, secret=secret)

    async def ListApiKeys(
        self, request: auth_pb2.ListApiKeysRequest, context: Context
    ) -> auth_pb2.ListApiKeysResponse:
        async with self._read() as stores:
            user = await self._named_user(stores.users, request.parent, "parent")
            query = pagination.fingerprint("api-keys", user.id, request.show_inactive)
            page = check.page(request.page_size, request.page_token, API_KEY_ORDER, query)
            listing = await stores.api_keys.page(user.id, request.show_inactive, page)
        return auth_pb2.ListApiKeysResponse(
            api_keys=[convert.api_key(r) for r in listing.items],
            next_page_token=pagination.next_token(API_KEY_ORDER, query, listing),
        )

    async def _api_key(self, api_keys: ApiKeyStore, name: str) -> ApiKeyRecord:
        user, key_id = parse(API_KEY, name, "name")
        row = await api_keys.get(user_id_in(user), key_id)
        tenancy.require_visible(row.owner if row else None, "ApiKey", name)
        assert row is not None
        return row

    async def GetApiKey(
        self, request: auth_pb2.GetApiKeyRequest, context: Context
    ) -> auth_pb2.GetApiKeyResponse:
        async with self._read() as stores:
            row = await self._api_key(stores.api_keys, request.name)
        return auth_pb2.GetApiKeyResponse(api_key=convert.api_key(row))

    async def RevokeApiKey(
        self, request: auth_pb2.RevokeApiKeyRequest, context: Context
    ) -> auth_pb2.RevokeApiKeyResponse:
        identity = authn.caller()
        events: list[Message] = []
        async with self._tx(events) as tx:
            row = await self._api_key(tx.api_keys, request.name)
            if row.revoke_time is None:
                moment = now()
                await tx.api_keys.update(row.id, revoke_time=moment)
                revoked = Revoked()
                reason = auth_pb2.REVOCATION_REASON_API_KEY_REVOKED
                await self._sessions.cut_off(
                    tx, row.owner, row.id, moment, reason=reason, revoked=revoked
                )
                events.extend(revoked.events)
                await tx.audit.record(
                    auth_pb2.AUDIT_EVENT_TYPE_API_KEY_REVOKED,
                    self._clients.of(context),
                    actor=identity.subject,
                    user=row.owner,
                    resource=request.name,
                )
                events.append(
                    events_pb2.ApiKeyRevokedEvent(
                        api_key=request.name,
                        user=row.owner,
                        key_prefix=row.key_prefix,
                        actor=identity.subject,
                        revoke_time=convert.timestamp(moment),
                    )
                )
                row = await self._api_key(tx.api_keys, request.name)
        return auth_pb2.RevokeApiKeyResponse(api_key=convert.api_key(row))

    async def resolve_api_key(self, secret: str, client: Client) -> tuple[ApiKeyRecord, UserRecord]:
        """The key and its owner for a presented secret; UNAUTHENTICATED (and audited) when it
        is unknown, revoked, expired or its owner disabled. Records the use once a minute."""
        async with self._tx() as tx:
            row = await tx.api_keys.by_prefix(tokens.api_key_prefix(secret))
            good = row is not None and hmac.compare_digest(row.secret_hash, tokens.digest(secret))
            user = await tx.users.get(row.user_id) if good and row else None
            if (
                row is not None
                and user is not None
                and convert.api_key_state(row) == auth_pb2.API_KEY_STATE_ACTIVE
                and not user.disabled
            ):
                last = row.last_used_time
                if last is None or now() - wellknown.utc(last) > timedelta(minutes=1):
                    await tx.api_keys.update(row.id, last_used_time=now())
                return row, user
        async with self._tx() as tx:
            await tx.audit.record(
                auth_pb2.AUDIT_EVENT_TYPE_API_KEY_REJECTED,
                client,
                resource=row.name if row else "",
                details={"key_prefix": tokens.api_key_prefix(secret)},
            )
        raise errors.unauthenticated("API key not valid")

    async def AuthenticateApiKey(
        self, request: auth_pb2.AuthenticateApiKeyRequest, context: Context
    ) -> auth_pb2.AuthenticateApiKeyResponse:
        key, user = await self.resolve_api_key(request.api_key, self._clients.of(context))
        return auth_pb2.AuthenticateApiKeyResponse(
            subject=user.name,
            roles=roles_of(user),
            api_key=key.name,
            expire_time=convert.timestamp(key.expire_time),
            cache_ttl=duration_pb2.Duration(seconds=self._settings.auth_api_key_cache_seconds),
        )

    async def ExchangeApiKey(
        self, request: auth_pb2.ExchangeApiKeyRequest, context: Context
    ) -> auth_pb2.ExchangeApiKeyResponse:
        key, user = await self.resolve_api_key(request.api_key, self._clients.of(context))
        not_after = wellknown.utc(key.expire_time).timestamp() if key.expire_time else None
        access = self._issuer.issue(user.name, roles_of(user), key.id, not_after=not_after)
        return auth_pb2.ExchangeApiKeyResponse(
            access_token=access.token,
            token_type="Bearer",  # noqa: S106 - the scheme, not a secret
            expires_in=duration_pb2.Duration(seconds=int(access.expires_at - access.issued_at)),
            access_token_expire_time=convert.timestamp(epoch(access.expires_at)),
            api_key=key.name,
        )
