"""Who asks and about what: the client address (see ClientAddresses), the caller's session,
and the resource names of the contract (`users/me` is the caller's own user). Whether the caller
may see a user's records is the kit's rule (voka.tenancy): the service only resolves names."""

from __future__ import annotations

import re
from typing import Any

import grpc
import jwt

from services.auth.store import Client
from voka import addresses, authn, errors
from voka.addresses import metadata

USER = re.compile(r"^users/([^/]+)$")
PREFERENCES = re.compile(r"^users/([^/]+)/preferences$")
STATS = re.compile(r"^users/([^/]+)/stats$")
API_KEY = re.compile(r"^users/([^/]+)/api-keys/([^/]+)$")
SESSION = re.compile(r"^users/([^/]+)/sessions/([^/]+)$")
AUDIT_EVENT = re.compile(r"^audit-events/([^/]+)$")


class ClientAddresses(addresses.ClientAddresses):
    """Where a request came from (`voka.addresses`), with its user agent."""

    def of(self, context: grpc.aio.ServicerContext[Any, Any]) -> Client:
        return Client(self.address(context), metadata(context, "user-agent")[:500])


def session_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The `sid` claim of the bearer token (the kit verified it already), or ''."""
    token = authn.bearer_token(metadata(context, "authorization") or None)
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
