"""API keys presented to any service, resolved through the auth service.

A machine client sends its key (`authorization: Bearer vk_...` or `x-api-key: vk_...`) to
whichever service it calls. Only the auth service holds the keys' hashes, so the kit asks it
(`AuthService.AuthenticateApiKey`, an ACCESS_SERVICE RPC called with this service's own
identity), which also records the key's last use. The answer — the owner's subject and roles,
so the key gets exactly its owner's rights and rate limit — is cached for the `cache_ttl` the
auth service grants, keyed by the key's SHA-256 (the secret itself is never kept). Revocation
does not wait for the TTL: `ApiKeyRevokedEvent`, and the events that change what an owner may
do (disabled, deleted, role changed), reach every replica over the revocation feed and drop the
cached answers at once.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc
from google.protobuf.message import Message

from voka import errors, service_identity
from voka.auth.v1 import auth_pb2, auth_pb2_grpc, events_pb2
from voka.authn import Identity
from voka.service_identity import ServiceIdentity

AUTHENTICATE_TIMEOUT = 5.0
MAX_CACHED = 10_000  # answers kept at most; the oldest go first

Clock = Callable[[], float]
Authenticate = Callable[[str], Awaitable[tuple[Identity, float]]]


@dataclass(frozen=True)
class _Cached:
    identity: Identity
    until: float  # monotonic


class ApiKeyVerifier:
    """A `voka.authn.Verifier` for API keys: cached answers of `authenticate`."""

    def __init__(self, authenticate: Authenticate, clock: Clock = time.monotonic) -> None:
        self._authenticate = authenticate
        self._clock = clock
        self._cache: dict[str, _Cached] = {}

    async def verify(self, token: str) -> Identity:
        digest = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cache.get(digest)
        if cached is not None and cached.until > self._clock():
            return cached.identity
        identity, ttl = await self._authenticate(token)
        if len(self._cache) >= MAX_CACHED:
            self._cache.pop(next(iter(self._cache)))
        until = self._clock() + min(ttl, max(identity.expires_at - time.time(), 0.0))
        self._cache[digest] = _Cached(identity, until)
        return identity

    def forget(self, *, api_key: str = "", user: str = "") -> None:
        """Drop the cached answers of one key, or of every key of one user."""
        self._cache = {
            d: c
            for d, c in self._cache.items()
            if not (api_key and c.identity.api_key == api_key)
            and not (user and c.identity.subject == user)
        }

    def on_event(self, event: Message) -> None:
        """The feed's listener for the events that end or change a key's rights."""
        if isinstance(event, events_pb2.ApiKeyRevokedEvent):
            self.forget(api_key=event.api_key)
        elif isinstance(
            event,
            events_pb2.UserDisabledEvent
            | events_pb2.UserDeletedEvent
            | events_pb2.UserRoleChangedEvent,
        ):
            self.forget(user=event.user)


EVENTS: tuple[type[Message], ...] = (
    events_pb2.ApiKeyRevokedEvent,
    events_pb2.UserDisabledEvent,
    events_pb2.UserDeletedEvent,
    events_pb2.UserRoleChangedEvent,
)


class AuthApiKeys:
    """`AuthenticateApiKey` on the auth service at `address`, with this service's token (the
    channel is created inside the running loop)."""

    def __init__(self, address: str, identity: ServiceIdentity) -> None:
        self._address = address
        self._identity = identity
        self._channel: grpc.aio.Channel | None = None

    async def __call__(self, api_key: str) -> tuple[Identity, float]:
        self._channel = self._channel or service_identity.channel(self._address, self._identity)
        stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        request = auth_pb2.AuthenticateApiKeyRequest(api_key=api_key)
        try:
            reply = await stub.AuthenticateApiKey(request, timeout=AUTHENTICATE_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.UNAUTHENTICATED:
                raise errors.unauthenticated("API key not valid") from exc
            raise errors.unavailable(f"cannot check API keys: {exc.code().name}") from exc
        return _identity(reply), reply.cache_ttl.ToTimedelta().total_seconds()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


def _identity(reply: auth_pb2.AuthenticateApiKeyResponse) -> Identity:
    expires = reply.expire_time.seconds if reply.HasField("expire_time") else math.inf
    return Identity(reply.subject, frozenset(reply.roles), "", float(expires), reply.api_key)
