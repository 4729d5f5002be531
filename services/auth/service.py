"""The auth service's wiring: key ring, token issuer, its own verifier, servicer.

The auth service verifies its callers with the keys it holds and the denylist in its own
database, instead of fetching its own JWKS over the network; it also accepts API keys as bearer
credentials, resolved in its store.
"""

from __future__ import annotations

import math
from typing import Any

from services.auth import store
from services.auth.keys import KeyRing
from services.auth.servicer import AuthServicer
from services.auth.sessions import roles_of
from services.auth.settings import AuthSettings
from services.auth.tokens import TokenIssuer, is_api_key
from voka import authn, wellknown
from voka.server import Registration, Resources, ServiceSpec, registration

OWN_JWKS_SECONDS = 1.0  # the ring is in memory: re-reading it is cheap, rotation shows at once


def auth_settings(resources: Resources) -> AuthSettings:
    """The kit hands over its Settings; the VOKA_AUTH_* ones are read on top of them."""
    if isinstance(resources.settings, AuthSettings):
        return resources.settings
    return AuthSettings(**resources.settings.model_dump())


class AuthVerifier:
    """Bearer JWTs against the key ring and the denylist; API keys against the store."""

    def __init__(self, servicer: AuthServicer, tokens: authn.TokenVerifier) -> None:
        self._servicer = servicer
        self._tokens = tokens

    async def verify(self, token: str) -> authn.Identity:
        if not is_api_key(token):
            return await self._tokens.verify(token)
        key, user = await self._servicer.resolve_api_key(token, store.Client("", "api key"))
        expires = wellknown.utc(key.expire_time).timestamp() if key.expire_time else math.inf
        return authn.Identity(f"users/{user.id}", frozenset(roles_of(user)), "", expires)


async def build(resources: Resources) -> list[Registration]:
    settings = auth_settings(resources)
    assert resources.sessions is not None  # ServiceSpec(database=True)
    sessions = resources.sessions
    ring = KeyRing.open(settings.keys_dir, settings.auth_access_token_seconds)

    async def jwks() -> dict[str, Any]:
        return ring.jwks()

    async def revoked(identity: authn.Identity) -> bool:
        async with sessions() as db:
            return await store.is_denied(db, identity.token_id)

    issuer = TokenIssuer(ring, settings.auth_access_token_seconds)
    servicer = AuthServicer(settings, sessions, resources.bus, issuer, jwks)
    tokens = authn.TokenVerifier(authn.JwksCache(jwks, ttl=OWN_JWKS_SECONDS), revoked=revoked)
    resources.verifier = AuthVerifier(servicer, tokens)
    return [registration(servicer)]


SPEC = ServiceSpec(name="auth", build=build, database=True)
