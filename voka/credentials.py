"""The credential check the kit puts in front of every service other than auth.

Assembles, for one process: bearer JWTs verified against the auth service's JWKS (or
`VOKA_JWKS_FILE`) and the revocation denylist; API keys resolved through the auth service with
this service's own identity (voka.apikeys); and the revocation feed that keeps both current and
drops the JWKS cache when the auth service announces a key rotation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from google.protobuf.message import Message

from voka import apikeys, authn, revocations, service_identity
from voka.auth.v1 import events_pb2
from voka.bus import Bus
from voka.config import Settings


@dataclass
class Credentials:
    """The verifier for the identity hook, and what to close when the process stops."""

    verifier: authn.Verifier
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


async def start(service: str, settings: Settings, bus: Bus | None) -> Credentials:
    auth_address = settings.address_of("auth")
    jwks = authn.JwksCache(jwks_source(settings), ttl=settings.jwks_cache_seconds)
    identity = service_identity.from_env(service, auth_address)
    resolve = apikeys.AuthApiKeys(auth_address, identity) if identity is not None else None
    keys = apikeys.ApiKeyVerifier(resolve) if resolve is not None else None
    credentials = Credentials(authn.CredentialVerifier(authn.TokenVerifier(jwks), keys))
    if resolve is not None:
        credentials.on_stop.append(resolve.close)
    if bus is None:
        return credentials
    listeners = _listeners(jwks, keys)
    feed = await revocations.start_feed(bus, identity, auth_address, listeners)
    tokens = authn.TokenVerifier(jwks, revoked=feed.cache.is_revoked)
    credentials.verifier = authn.CredentialVerifier(tokens, keys)
    credentials.on_stop.append(feed.stop)
    return credentials


def _listeners(
    jwks: authn.JwksCache, keys: apikeys.ApiKeyVerifier | None
) -> dict[type[Message], revocations.OnEvent]:
    def rotated(_: Message) -> None:
        jwks.expire()

    listeners: dict[type[Message], revocations.OnEvent] = {
        events_pb2.SigningKeyRotatedEvent: rotated
    }
    if keys is not None:
        listeners.update({event: keys.on_event for event in apikeys.EVENTS})
    return listeners


def jwks_source(settings: Settings) -> authn.JwksFetch:
    """Where signing keys come from: `VOKA_JWKS_FILE`, else the auth service's GetJwks."""
    if settings.jwks_file is not None:
        return authn.jwks_from_file(settings.jwks_file)
    return authn.jwks_from_auth_service(settings.address_of("auth"))
