"""How the auth service checks its own callers: with the key ring it holds, the denylist and the
API keys in its own database, instead of asking itself over the network as every other service
does (voka.credentials)."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth.rpcs import AuthServicer
from services.auth.sessions import roles_of
from services.auth.store import Client, RevokedTokenStore
from voka import authn, wellknown

OWN_JWKS_SECONDS = 1.0  # the ring is in memory: re-reading it is cheap, rotation shows at once


class StoreApiKeys:
    """API keys resolved in the auth service's own store (other services ask it over gRPC)."""

    def __init__(self, servicer: AuthServicer) -> None:
        self._servicer = servicer

    async def verify(self, token: str) -> authn.Identity:
        key, user = await self._servicer.resolve_api_key(token, Client("", "api key"))
        expires = wellknown.utc(key.expire_time).timestamp() if key.expire_time else math.inf
        return authn.Identity(user.name, frozenset(roles_of(user)), "", expires, key.name)


def own_verifier(
    jwks: Callable[[], Awaitable[dict[str, Any]]],
    sessions: async_sessionmaker[AsyncSession],
    servicer: AuthServicer,
) -> authn.CredentialVerifier:
    """Bearer tokens checked against the ring's `jwks` and the denylist; API keys against the
    store."""

    async def revoked(identity: authn.Identity) -> bool:
        async with sessions() as db:
            return await RevokedTokenStore(db).covers(identity)

    tokens = authn.TokenVerifier(authn.JwksCache(jwks, ttl=OWN_JWKS_SECONDS), revoked=revoked)
    return authn.CredentialVerifier(tokens, StoreApiKeys(servicer))
