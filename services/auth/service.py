"""The auth service's wiring: key ring, token issuer, its own verifier, servicer.

The auth service verifies its callers with the keys it holds and the denylist in its own
database, instead of fetching its own JWKS over the network, and resolves API keys in its own
store.
"""

from __future__ import annotations

import math
from typing import Any

from services.auth import store
from services.auth.keys import KeyRing
from services.auth.rotation import RingWatcher
from services.auth.servicer import AuthServicer
from services.auth.sessions import roles_of
from services.auth.settings import AuthSettings
from services.auth.tokens import TokenIssuer
from voka import authn, wellknown
from voka.server import Registration, Resources, ServiceSpec, registration

OWN_JWKS_SECONDS = 1.0  # the ring is in memory: re-reading it is cheap, rotation shows at once


class StoreApiKeys:
    """API keys resolved in the auth service's own store (other services ask it over gRPC)."""

    def __init__(self, servicer: AuthServicer) -> None:
        self._servicer = servicer

    async def verify(self, token: str) -> authn.Identity:
        key, user = await self._servicer.resolve_api_key(token, store.Client("", "api key"))
        expires = wellknown.utc(key.expire_time).timestamp() if key.expire_time else math.inf
        name = f"users/{user.id}"
        return authn.Identity(
            name, frozenset(roles_of(user)), "", expires, f"{name}/api-keys/{key.id}"
        )


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(AuthSettings)
    assert resources.sessions is not None  # ServiceSpec(database=True)
    sessions = resources.sessions
    ring = KeyRing.open(settings.keys_dir, settings.key_retire_seconds)
    watcher = RingWatcher(ring, sessions, resources.bus, settings.auth_keys_poll_seconds)
    watcher.start()
    resources.on_stop.append(watcher.stop)

    async def jwks() -> dict[str, Any]:
        return ring.jwks()

    async def revoked(identity: authn.Identity) -> bool:
        async with sessions() as db:
            return await store.is_denied(db, identity.token_id)

    issuer = TokenIssuer(ring, settings.auth_access_token_seconds)
    servicer = AuthServicer(settings, sessions, resources.bus, issuer, jwks)
    tokens = authn.TokenVerifier(authn.JwksCache(jwks, ttl=OWN_JWKS_SECONDS), revoked=revoked)
    resources.verifier = authn.CredentialVerifier(tokens, StoreApiKeys(servicer))
    return [registration(servicer)]


SPEC = ServiceSpec(name="auth", build=build, database=True)
