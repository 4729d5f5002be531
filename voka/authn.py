"""Who is calling, checked in every service: bearer JWTs verified against the auth service's JWKS.

Envoy checks tokens at the edge, but internal callers reach services directly, so each service
verifies again here. The access rule of each RPC comes from the contract
(`(voka.api.v1.access)`), never from a list kept beside the code. Machine clients may present an
API key instead (`Bearer vk_...` or `x-api-key`); `CredentialVerifier` hands those to
voka.apikeys. voka.credentials assembles the verifier a service runs.

A service calling for a user's work names the user (`voka-on-behalf-of`, voka.peer_calls):
the user becomes the caller and the service its `actor` (`on_behalf`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import grpc
import jwt
from google.protobuf import descriptor_pool, json_format

from voka import errors, peer_calls
from voka.api.v1 import options_pb2
from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka.calls import Call, Hook, before

ISSUER = "voka-auth"
AUDIENCE = "voka"
# Asymmetric only: `none` and HMAC tokens are refused whatever their header says.
ALGORITHMS = ("EdDSA", "RS256")
ADMIN_ROLE = "admin"
USER_ROLE = "user"
JWKS_FETCH_TIMEOUT = 2.0
# Verified tokens whose identity is kept until they expire (TokenVerifier): one per signed-in
# client at a time, about 200 bytes each.
VERIFIED_TOKENS_CACHED = 10_000

log = logging.getLogger("voka.authn")

Jwks = dict[str, Any]
JwksFetch = Callable[[], Awaitable[Jwks]]


@dataclass(frozen=True)
class Identity:
    """A verified caller. `subject` is a resource name: `users/{id}` or `services/{domain}`."""

    subject: str
    roles: frozenset[str]
    token_id: str
    expires_at: float
    # `users/{user}/api-keys/{api_key}` when the caller presented an API key instead of a JWT.
    api_key: str = ""
    # The token's `sid` (its session, or the API key it was exchanged for) and `iat`, which the
    # denylist's cut-offs match (voka.revocations).
    session_id: str = ""
    issued_at: float = 0.0
    # `services/{domain}` when a service made the call for the user `subject` names: the token
    # is the service's, the work the user's (`on_behalf`).
    actor: str = ""

    @property
    def is_service(self) -> bool:
        return self.subject.startswith("services/")

    @property
    def is_admin(self) -> bool:
        return ADMIN_ROLE in self.roles


_caller: ContextVar[Identity | None] = ContextVar("voka_caller", default=None)


def caller() -> Identity:
    """The verified caller of the RPC being handled (the kit refused anonymous calls already
    unless the RPC is public, where this raises UNAUTHENTICATED)."""
    identity = _caller.get()
    if identity is None:
        raise errors.unauthenticated("this call needs a bearer token")
    return identity


def optional_caller() -> Identity | None:
    return _caller.get()


# What must also judge a caller that a handler signs in late (the rate limit): see `sign_in`.
Admission = Callable[[Identity], None]


@dataclass(frozen=True)
class _LateSignIn:
    verifier: Verifier
    admissions: list[Admission]


_late: ContextVar[_LateSignIn | None] = ContextVar("voka_late_sign_in", default=None)


def admit_late(check: Admission) -> None:
    """Have `check` also judge a caller signed in later in this call (`sign_in`). Hooks after
    the identity hook call it for what they enforce on every caller."""
    late = _late.get()
    if late is not None:
        late.admissions.append(check)


async def sign_in(credential: str) -> Identity:
    """Make `credential` the caller, for the few public RPCs whose wire format carries it in the
    request body where no hook can read it (LibreTranslate's `api_key`): verified by the same
    verifier as the identity hook's, judged by the same hooks' checks (`admit_late`: the rate
    limit), then the caller for the rest of the call. A bad credential is UNAUTHENTICATED."""
    late = _late.get()
    if late is None:
        raise errors.unauthenticated("a credential is only checked inside an RPC")
    identity = await late.verifier.verify(credential)
    for admit in late.admissions:
        admit(identity)
    _caller.set(identity)
    return identity


class JwksCache:
    """Public keys by `kid`, refreshed after `ttl` or when an unknown kid shows up (at most once
    per `min_refresh` seconds, so garbage tokens cannot hammer the auth service)."""

    def __init__(self, fetch: JwksFetch, ttl: float = 300.0, min_refresh: float = 5.0) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK | None:
        age = time.monotonic() - self._fetched_at
        if age > self._ttl or (kid not in self._keys and age > self._min_refresh):
            await self._refresh()
        return self._keys.get(kid)

    def expire(self) -> None:
        """Fetch again on the next lookup (the auth service announced a key rotation)."""
        self._fetched_at = float("-inf")

    async def _refresh(self) -> None:
        """Fetch again; while the source is down, keep trusting the keys already known (they
        stay valid until rotated) rather than refusing every caller."""
        async with self._lock:
            try:
                jwks = await self._fetch()
            except errors.VokaError:
                if not self._keys:
                    raise
                log.warning("JWKS refresh failed; keeping %d cached keys", len(self._keys))
                self._fetched_at = time.monotonic() - self._ttl + self._min_refresh
                return
            keys = jwt.PyJWKSet.from_dict(jwks).keys if jwks.get("keys") else []
            self._keys = {k.key_id: k for k in keys if k.key_id}
            self._fetched_at = time.monotonic()


def jwks_from_file(path: Path) -> JwksFetch:
    async def fetch() -> Jwks:
        try:
            text = await asyncio.to_thread(path.read_text)
        except OSError as exc:
            raise errors.unavailable(f"cannot read JWKS file {path}: {exc}") from exc
        return json.loads(text)  # type: ignore[no-any-return]

    return fetch


class Verifier(Protocol):
    """Turns a bearer credential into the caller's identity, or raises UNAUTHENTICATED."""

    async def verify(self, token: str) -> Identity: ...


RevocationCheck = Callable[[Identity], Awaitable[bool]]


class TokenVerifier:
    """Checks signature, `kid`, algorithm, issuer, audience and expiry of access tokens, and,
    when given `revoked`, the denylist: a signature stays valid until `exp`, so logout, password
    change and the rest can only cut a token off early by its `jti`, `sid` or `sub` and `iat`.

    A client sends the same token with every call until it expires, and checking its signature
    is most of the kit's cost per call, so a verified token's identity is kept (by the token's
    digest, up to VERIFIED_TOKENS_CACHED of them, oldest dropped first) until its `exp`. The
    denylist is asked on every call, cached or not, so a revocation still cuts a token off at
    once."""

    def __init__(
        self,
        jwks: JwksCache,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        revoked: RevocationCheck | None = None,
    ) -> None:
        self._jwks = jwks
        self._issuer = issuer
        self._audience = audience
        self._revoked = revoked
        self._verified: OrderedDict[bytes, Identity] = OrderedDict()

    async def verify(self, token: str) -> Identity:
        digest = hashlib.blake2b(token.encode(), digest_size=16).digest()
        identity = self._verified.get(digest)
        if identity is None or identity.expires_at <= time.time():
            self._verified.pop(digest, None)
            identity = await self._check(token)
            self._verified[digest] = identity
            if len(self._verified) > VERIFIED_TOKENS_CACHED:
                self._verified.popitem(last=False)
        if self._revoked is not None and await self._revoked(identity):
            raise errors.unauthenticated("token revoked")
        return identity

    async def _check(self, token: str) -> Identity:
        """The identity a token carries, once its header, key, signature and claims pass."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise errors.unauthenticated(f"malformed token: {exc}") from exc
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise errors.unauthenticated(f"token algorithm {alg!r} is not accepted")
        if not kid:
            raise errors.unauthenticated("token has no kid")
        key = await self._jwks.key(kid)
        if key is None:
            raise errors.unauthenticated(f"token signed with unknown key {kid!r}")
        return self._decode(token, key, alg)

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> Identity:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise errors.unauthenticated("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise errors.unauthenticated(f"invalid token: {exc}") from exc
        return Identity(
            subject=claims["sub"],
            roles=frozenset(claims.get("roles", ())),
            token_id=claims["jti"],
            expires_at=float(claims["exp"]),
            session_id=str(claims.get("sid", "")),
            issued_at=float(claims["iat"]),
        )


@cache
def access_of(method: str) -> int:
    """The `(voka.api.v1.access)` rule of a full gRPC method name. Infrastructure services
    outside our contracts (health, reflection) are public."""
    service, name = method.lstrip("/").split("/", 1)
    if not service.startswith("voka."):
        return options_pb2.ACCESS_PUBLIC
    descriptor = descriptor_pool.Default().FindMethodByName(f"{service}.{name}")
    return int(descriptor.GetOptions().Extensions[options_pb2.access])


def enforce(rule: int, identity: Identity | None) -> None:
    if rule == options_pb2.ACCESS_PUBLIC:
        return
    if identity is None:
        raise errors.unauthenticated("this call needs a bearer token")
    if rule == options_pb2.ACCESS_ADMIN and not identity.is_admin:
        raise errors.permission_denied("this call needs the admin role")
    if rule == options_pb2.ACCESS_SERVICE and not identity.is_service:
        raise errors.permission_denied("this call is for services only")


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.unauthenticated("authorization must be 'Bearer <token>'")
    return token.strip()


API_KEY_PREFIX = "vk_"
API_KEY_HEADER = "x-api-key"


def is_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)


def credential_of(call: Call) -> str | None:
    """The caller's credential: `authorization: Bearer <JWT or vk_ key>` or `x-api-key: vk_...`
    (machine clients). Both at once is ambiguous, so it is refused."""
    token = bearer_token(call.metadata("authorization"))
    api_key = (call.metadata(API_KEY_HEADER) or "").strip()
    if api_key and token:
        raise errors.unauthenticated(f"send authorization or {API_KEY_HEADER}, not both")
    if api_key and not is_api_key(api_key):
        raise errors.unauthenticated(f"{API_KEY_HEADER} must be an API key ({API_KEY_PREFIX}...)")
    return token or api_key or None


class CredentialVerifier:
    """API keys to `api_keys`, everything else to `tokens` (a JWT verifier). Without an API-key
    verifier (a service with no identity to ask the auth service with) keys are refused."""

    def __init__(self, tokens: Verifier, api_keys: Verifier | None) -> None:
        self._tokens = tokens
        self._api_keys = api_keys

    async def verify(self, token: str) -> Identity:
        if not is_api_key(token):
            return await self._tokens.verify(token)
        if self._api_keys is None:
            raise errors.unauthenticated("this service cannot resolve API keys")
        return await self._api_keys.verify(token)


# A user's resource name, `users/{user}`, and nothing more (no `me`-style alias is resolved).
_USER = re.compile(r"users/[A-Za-z0-9_-]{1,64}")


def on_behalf(identity: Identity | None, named: str | None) -> Identity | None:
    """The caller a call counts as, given the user it names (`voka-on-behalf-of`, or None).

    A service acting for a user's work (a task, a meeting's pipeline) becomes that user, with a
    plain user's role and none of its own, and stays on record as the `actor`: rate limits,
    quotas, tenancy and logs then apply to the user, who cannot escape them by queueing work.
    Only a service may name someone else: a user must never act as another user."""
    if named is None:
        return identity
    if identity is None or not identity.is_service:
        raise errors.permission_denied(
            f"only a service may act on behalf of a user ({peer_calls.ON_BEHALF_OF})"
        )
    if not _USER.fullmatch(named):
        raise errors.invalid_argument(
            [errors.FieldViolation(peer_calls.ON_BEHALF_OF, "must name a user: users/{user}")]
        )
    return dataclasses.replace(
        identity, subject=named, roles=frozenset({USER_ROLE}), actor=identity.subject
    )


def identity_hook(verifier: Verifier) -> Hook:
    """Verify the caller, enforce the RPC's access rule, and expose the identity to handlers.

    A token that is present but bad is refused even on public RPCs: the caller should learn
    that its credential is broken. The access rule applies to the caller the call counts as
    (`on_behalf`). The context variable is set, not reset: each RPC runs in its own task, whose
    context dies with it."""

    async def check(call: Call) -> None:
        token = credential_of(call)
        verified = await verifier.verify(token) if token else None
        identity = on_behalf(verified, call.metadata(peer_calls.ON_BEHALF_OF))
        enforce(access_of(call.method), identity)
        _caller.set(identity)
        _late.set(_LateSignIn(verifier, []))

    return before(check)


def jwks_from_auth_service(address: str) -> JwksFetch:
    """The auth service's published keys, over its public GetJwks RPC."""
    channel: grpc.aio.Channel | None = None

    async def fetch() -> Jwks:
        nonlocal channel
        channel = channel or peer_calls.open_channel(address)  # created inside the loop
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        try:
            reply = await stub.GetJwks(auth_pb2.GetJwksRequest(), timeout=JWKS_FETCH_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise errors.unavailable(
                f"cannot fetch signing keys from auth at {address}: {exc.code().name}"
            ) from exc
        return json_format.MessageToDict(reply, preserving_proto_field_name=True)

    return fetch
