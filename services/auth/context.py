"""Who asks and about whom: the client address, the caller's session, and the `users/{user}`
names a caller may use (its own, `users/me`, or anyone's for an admin; anything else is
NOT_FOUND, so ids cannot be probed)."""

from __future__ import annotations

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


def _metadata(context: grpc.aio.ServicerContext[Any, Any], key: str) -> str:
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value.decode() if isinstance(value, bytes) else str(value)
    return ""


def client_of(context: grpc.aio.ServicerContext[Any, Any]) -> Client:
    """The client's address: Envoy's `x-forwarded-for` (first hop) or external address, else
    the gRPC peer (`ipv4:1.2.3.4:5678`, `ipv6:[::1]:5678`)."""
    forwarded = _metadata(context, "x-forwarded-for").split(",")[0].strip()
    address = forwarded or _metadata(context, "x-envoy-external-address")
    if not address:
        peer = context.peer() or ""
        address = peer.split(":", 1)[-1].rsplit(":", 1)[0].strip("[]")
    return Client(address, _metadata(context, "user-agent")[:500])


def session_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The `sid` claim of the bearer token (the kit verified it already), or ''."""
    token = authn.bearer_token(_metadata(context, "authorization") or None)
    if not token or token.startswith("vk_"):
        return ""
    claims = jwt.decode(token, options={"verify_signature": False})
    return str(claims.get("sid", ""))


def user_id_of(identity: authn.Identity) -> str:
    """The caller's own user id; services and others have none."""
    match = USER.match(identity.subject)
    return match.group(1) if match else ""


def target(
    identity: authn.Identity, user: str, resource: str, name: str, services_too: bool = False
) -> str:
    """The user id a caller may act on, from the `{user}` part of a name."""
    own = user_id_of(identity)
    if user == "me":
        if not own:
            raise errors.not_found(resource, name)
        return own
    allowed = identity.is_admin or (services_too and identity.is_service) or user == own
    if not allowed:
        raise errors.not_found(resource, name)
    return user


def parse(pattern: re.Pattern[str], name: str, field: str) -> tuple[str, ...]:
    match = pattern.match(name)
    if match is None:
        raise errors.invalid_argument(
            [errors.FieldViolation(field, f"must look like {_shape(pattern)}")]
        )
    return match.groups()


def _shape(pattern: re.Pattern[str]) -> str:
    return pattern.pattern.strip("^$").replace("([^/]+)", "{id}")
