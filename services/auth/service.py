"""The auth service's wiring: key ring and its watcher, token issuer, servicer, and the
verifier of its own callers (verifier.py). Its events go through the kit's outbox
(`Resources.outbox`), written with the changes that cause them."""

from __future__ import annotations

from typing import Any

from services.auth.keys import KeyRing
from services.auth.rotation import RingWatcher
from services.auth.rpcs import AuthServicer
from services.auth.settings import AuthSettings
from services.auth.tokens import TokenIssuer
from services.auth.verifier import own_verifier
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(AuthSettings)
    if resources.sessions is None or resources.outbox is None:
        raise RuntimeError("auth needs its database and NATS")
    sessions, outbox = resources.sessions, resources.outbox
    ring = KeyRing.open(settings.keys_dir, settings.key_retire_seconds)
    watcher = RingWatcher(ring, sessions, outbox, settings.auth_keys_poll_seconds)
    watcher.start()
    resources.on_stop.append(watcher.stop)

    async def jwks() -> dict[str, Any]:
        return ring.jwks()

    issuer = TokenIssuer(ring, settings.auth_access_token_seconds)
    servicer = AuthServicer(settings, sessions, outbox, issuer, jwks)
    resources.verifier = own_verifier(jwks, sessions, servicer)
    return [registration(servicer)]


SPEC = ServiceSpec(name="auth", build=build, database=True)
