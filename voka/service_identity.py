"""A service's own identity for the calls it makes to other services.

Service-to-service calls carry a token of their own (`sub` = `services/{domain}`, role
`service`), never a key shared by the whole mesh: each service proves who it is to the auth
service with its own secret (`VOKA_SERVICE_SECRET`, generated per service by `make up`, stored
only as a SHA-256 on the auth side), gets a short-lived access token back from
`AuthService.IssueServiceToken`, and asks again before that token runs out. Callees verify it
like any other bearer token, so ACCESS_SERVICE RPCs can tell services from users.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import grpc

from voka import errors, peer_calls
from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka.config import Settings

SECRET_ENV = "VOKA_SERVICE_SECRET"  # noqa: S105 - the variable name, not a secret
ISSUE_TIMEOUT = 5.0
# Ask again when this share of the token's lifetime is left, so a call never leaves with a token
# about to expire on its way.
REFRESH_SHARE = 0.2

Req = TypeVar("Req")
Res = TypeVar("Res")
Token = tuple[str, float]  # (access token, expiry in epoch seconds)
IssueToken = Callable[[str, str], Awaitable[Token]]
Clock = Callable[[], float]


class ServiceIdentity:
    """The calling service's current token, fetched on first use and renewed before expiry."""

    def __init__(
        self, service: str, secret: str, issue: IssueToken, clock: Clock = time.time
    ) -> None:
        if not secret:
            raise ValueError(f"service {service!r} has no secret (set {SECRET_ENV})")
        self.service = service
        self._secret = secret
        self._issue = issue
        self._clock = clock
        self._token: Token | None = None
        self._issued_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A token with more than REFRESH_SHARE of its lifetime left; one fetch at a time."""
        if self._fresh():
            return self._current()
        async with self._lock:
            if not self._fresh():  # another caller may have renewed it while we waited
                issued_at = self._clock()
                self._token = await self._issue(self.service, self._secret)
                self._issued_at = issued_at
        return self._current()

    def _current(self) -> str:
        assert self._token is not None
        return self._token[0]

    def _fresh(self) -> bool:
        if self._token is None:
            return False
        expires_at = self._token[1]
        margin = (expires_at - self._issued_at) * REFRESH_SHARE
        return self._clock() < expires_at - margin


def issue_via_auth(address: str) -> IssueToken:
    """IssueServiceToken on the auth service at `address`, over a channel of its own (created
    inside the running loop, and without the identity interceptor: it has no token yet)."""
    channel: grpc.aio.Channel | None = None

    async def issue(service: str, secret: str) -> Token:
        nonlocal channel
        channel = channel or grpc.aio.insecure_channel(address)
        stub = auth_pb2_grpc.AuthServiceStub(channel)
        request = auth_pb2.IssueServiceTokenRequest(service=service, client_secret=secret)
        try:
            reply = await stub.IssueServiceToken(request, timeout=ISSUE_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise errors.unavailable(
                f"cannot get a service token for {service} from auth at {address}: "
                f"{exc.code().name}"
            ) from exc
        return reply.access_token, float(reply.access_token_expire_time.seconds)

    return issue


def from_env(service: str, auth_address: str) -> ServiceIdentity | None:
    """The identity configured by `VOKA_SERVICE_SECRET`, or None where the service has none."""
    secret = os.environ.get(SECRET_ENV, "")
    return ServiceIdentity(service, secret, issue_via_auth(auth_address)) if secret else None


def _with_token(details: grpc.aio.ClientCallDetails, token: str) -> grpc.aio.ClientCallDetails:
    """The call's details with `authorization` added, unless the caller set one already (it
    forwards a user's token on purpose: that call acts for the user, not for the service)."""
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    if metadata.get("authorization") is None:
        metadata.add("authorization", f"Bearer {token}")
    return grpc.aio.ClientCallDetails(
        details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
    )


class _Attach:
    """Holds the identity; each subclass intercepts one call kind."""

    def __init__(self, identity: ServiceIdentity) -> None:
        self._identity = identity

    async def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        return _with_token(details, await self._identity.token())


class _UnaryUnary(_Attach, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Req], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Req,
    ) -> Any:
        return await continuation(await self._details(client_call_details), request)


class _UnaryStream(_Attach, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.aio.ClientCallDetails, Req], Awaitable[Any]],
        client_call_details: grpc.aio.ClientCallDetails,
        request: Req,
    ) -> Any:
        return await continuation(await self._details(client_call_details), request)


class _StreamUnary(_Attach, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, AsyncIterable[Req] | Iterable[Req]], Awaitable[Any]
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Req] | Iterable[Req],
    ) -> Any:
        return await continuation(await self._details(client_call_details), request_iterator)


class _StreamStream(_Attach, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Callable[
            [grpc.aio.ClientCallDetails, AsyncIterable[Req] | Iterable[Req]], Awaitable[Any]
        ],
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: AsyncIterable[Req] | Iterable[Req],
    ) -> AsyncIterator[Any] | Any:
        return await continuation(await self._details(client_call_details), request_iterator)


def interceptors(identity: ServiceIdentity) -> list[grpc.aio.ClientInterceptor]:
    """Interceptors attaching the service's token to every call of a channel:
    `grpc.aio.insecure_channel(address, interceptors=interceptors(identity))`. One object per
    call kind, because grpc.aio files each interceptor under the first kind it matches: a
    single object of all four kinds would only ever see unary-unary calls, and every stream
    would go out without a token."""
    kinds = (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)
    return [kind(identity) for kind in kinds]


def channel(address: str, identity: ServiceIdentity) -> grpc.aio.Channel:
    """A channel to a peer whose every call carries this service's token (create it inside the
    running loop)."""
    return peer_calls.open_channel(address, interceptors(identity))


class NoIdentityError(RuntimeError):
    """This service has no secret to prove itself with, so it cannot call its peers."""


class PeerChannels:
    """One channel per peer domain, each carrying this service's identity, made on first use
    (inside the running loop, as grpc.aio wants). Without an identity, `channel` raises
    NoIdentityError naming the peer, which each service maps to its own kind of refusal."""

    def __init__(self, settings: Settings, identity: ServiceIdentity | None) -> None:
        self._settings = settings
        self._identity = identity
        self._channels: dict[str, grpc.aio.Channel] = {}

    def channel(self, domain: str) -> grpc.aio.Channel:
        if self._identity is None:
            raise NoIdentityError(
                f"{self._settings.service} has no service identity to call {domain} "
                f"({SECRET_ENV} is not set)"
            )
        if domain not in self._channels:
            address = self._settings.address_of(domain)
            self._channels[domain] = channel(address, self._identity)
        return self._channels[domain]

    async def close(self) -> None:
        for made in self._channels.values():
            await made.close()
        self._channels.clear()
