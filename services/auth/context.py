"""Who asks and about what: the client address (see ClientAddresses), the caller's session,
and the resource names of the contract (`users/me` is the caller's own user). Whether the caller
may see a user's records is the kit's rule (voka.tenancy): the service only resolves names."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import grpc
import jwt

from services.auth.store import Client
from voka import authn, errors

USER = re.compile(r"^users/([^/]+)$")
PREFERENCES = re.compile(r"^users/([^/]+)/preferences$")
STATS = re.compile(r"^users/([^/]+)/stats$")
API_KEY = re.compile(r"^users/([^/]+)/api-keys/([^/]+)$")
SESSION = re.compile(r"^users/([^/]+)/sessions/([^/]+)$")
AUDIT_EVENT = re.compile(r"^audit-events/([^/]+)$")
GATEWAY_HEADER = "x-voka-gateway"  # gateway/config.py adds it
EXTERNAL_ADDRESS = "x-envoy-external-address"


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


class ClientAddresses:
    """The client's address, trusted only as far as it can be.

    Through the gateway, the TCP peer is Envoy, and Envoy's `x-envoy-external-address` (which it
    overwrites with the address the request really came from) names the client. But any direct
    gRPC caller can send that header too, and `x-forwarded-for` is the client's own say-so. So
    the header counts only when the call proves it came through Envoy: Envoy adds
    `x-voka-gateway` with the gateway secret (`VOKA_GATEWAY_SECRET`, overwriting whatever the
    client sent); any other call is keyed by its TCP peer.
    """

    def __init__(self, gateway_secret: str) -> None:
        self._digest = hashlib.sha256(gateway_secret.encode()).digest() if gateway_secret else b""

    def of(self, context: grpc.aio.ServicerContext[Any, Any]) -> Client:
        address = _metadata(context, EXTERNAL_ADDRESS) if self._via_gateway(context) else ""
        if not address:  # the peer: `ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`
            peer = context.peer() or ""
            address = peer.split(":", 1)[-1].rsplit(":", 1)[0].strip("[]")
        return Client(address, _metadata(context, "user-agent")[:500])

    def _via_gateway(self, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        given = _metadata(context, GATEWAY_HEADER)
        if not self._digest or not given:
            return False
        return hmac.compare_digest(self._digest, hashlib.sha256(given.encode()).digest())


def session_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The `sid` claim of the bearer token (the kit verified it already), or ''."""
    token = authn.bearer_token(_metadata(context, "authorization") or None)
    if not token or authn.is_api_key(token):
        return ""
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims.get("sid", ""))


def user_id_of(identity: authn.Identity) -> str:
    """The caller's own user id; services and others have none."""
    match = USER.match(identity.subject)
    return match.group(1) if match else ""


def user_id_in(user: str) -> str:
    """The user id the `{user}` part of a name stands for: `me` is the caller's own ('' for
    callers that are no user)."""
    return user_id_of(authn.caller()) if user == "me" else user


def parse(pattern: re.Pattern[str], name: str, field: str) -> tuple[str, ...]:
    match = pattern.match(name)
    if match is None:
        raise errors.invalid_argument(
            [errors.FieldViolation(field, f"must look like {_shape(pattern)}")]
        )
    return match.groups()


def _shape(pattern: re.Pattern[str]) -> str:
    return pattern.pattern.strip("^$").replace("([^/]+)", "{id}")
