"""voka.service_identity in-process: when a service asks auth for a token, and what its calls
carry. The end-to-end test against the real auth service is in tests/e2e/test_auth.py."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from voka import service_identity
from voka.config import Settings
from voka.service_identity import ServiceIdentity, _with_token


class FakeAuth:
    """Issues numbered tokens living `lifetime` seconds on the test's clock."""

    def __init__(self, clock: list[float], lifetime: float = 100.0) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.calls: list[tuple[str, str]] = []

    async def issue(self, service: str, secret: str) -> tuple[str, float]:
        self.calls.append((service, secret))
        await asyncio.sleep(0)  # let concurrent callers pile up on the lock
        return f"token-{len(self.calls)}", self.clock[0] + self.lifetime


def identity(auth: FakeAuth) -> ServiceIdentity:
    return ServiceIdentity("translate", "s3cret", auth.issue, clock=lambda: auth.clock[0])


async def test_token_is_fetched_once_and_reused_while_fresh():
    auth = FakeAuth([1000.0])
    me = identity(auth)
    assert await me.token() == "token-1"
    auth.clock[0] += 79  # 21 % of the lifetime left
    assert await me.token() == "token-1"
    assert auth.calls == [("translate", "s3cret")]


async def test_token_is_renewed_before_it_expires():
    auth = FakeAuth([1000.0])
    me = identity(auth)
    await me.token()
    auth.clock[0] += 81  # under 20 % left: renew now, not at expiry
    assert await me.token() == "token-2"


async def test_concurrent_callers_share_one_fetch():
    auth = FakeAuth([1000.0])
    me = identity(auth)
    tokens = await asyncio.gather(*(me.token() for _ in range(10)))
    assert set(tokens) == {"token-1"}
    assert len(auth.calls) == 1


def test_a_service_without_secret_is_refused():
    with pytest.raises(ValueError, match="VOKA_SERVICE_SECRET"):
        ServiceIdentity("translate", "", FakeAuth([0.0]).issue)


def test_the_token_is_attached_unless_the_call_carries_one():
    bare = grpc.aio.ClientCallDetails("/x.Y/Z", 5.0, None, None, None)
    assert dict(_with_token(bare, "abc").metadata or ()) == {"authorization": "Bearer abc"}
    forwarded = grpc.aio.ClientCallDetails(
        "/x.Y/Z", 5.0, grpc.aio.Metadata(("authorization", "Bearer user")), None, None
    )
    assert dict(_with_token(forwarded, "abc").metadata or ()) == {"authorization": "Bearer user"}


class Echo:
    """A real gRPC server whose every method, of each call kind, answers with the
    `authorization` it received."""

    def __init__(self) -> None:
        self.server = grpc.aio.server()
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        handlers = {
            "UnaryUnary": grpc.unary_unary_rpc_method_handler(self._unary),
            "UnaryStream": grpc.unary_stream_rpc_method_handler(self._unary_stream),
            "StreamUnary": grpc.stream_unary_rpc_method_handler(self._stream_unary),
            "StreamStream": grpc.stream_stream_rpc_method_handler(self._stream_stream),
        }
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("t.Echo", handlers)]
        )

    @staticmethod
    def _seen(context: grpc.aio.ServicerContext) -> bytes:
        return dict(context.invocation_metadata() or ()).get("authorization", "").encode()

    async def _unary(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return self._seen(context)

    async def _unary_stream(self, request: bytes, context: grpc.aio.ServicerContext):
        yield self._seen(context)

    async def _stream_unary(self, requests, context: grpc.aio.ServicerContext) -> bytes:
        async for _ in requests:
            pass
        return self._seen(context)

    async def _stream_stream(self, requests, context: grpc.aio.ServicerContext):
        async for _ in requests:
            yield self._seen(context)


async def one_request():
    yield b"x"


async def test_every_call_kind_carries_the_token():
    """grpc.aio files an interceptor under the first call kind it matches, so this needs one
    interceptor per kind: with a single four-kind object the streams went out bare."""
    echo = Echo()
    await echo.server.start()
    try:
        me = identity(FakeAuth([1000.0]))
        async with service_identity.channel(f"127.0.0.1:{echo.port}", me) as channel:
            unary = await channel.unary_unary("/t.Echo/UnaryUnary")(b"x")
            [unary_stream] = [m async for m in channel.unary_stream("/t.Echo/UnaryStream")(b"x")]
            stream_unary = await channel.stream_unary("/t.Echo/StreamUnary")(one_request())
            call = channel.stream_stream("/t.Echo/StreamStream")(one_request())
            [stream_stream] = [m async for m in call]
            forwarded = await channel.unary_unary("/t.Echo/UnaryUnary")(
                b"x", metadata=(("authorization", "Bearer user"),)
            )
    finally:
        await echo.server.stop(None)
    assert {unary, unary_stream, stream_unary, stream_stream} == {b"Bearer token-1"}
    assert forwarded == b"Bearer user"  # a call acting for a user keeps the user's token


async def test_peer_channels_without_an_identity_refuse_naming_the_peer_and_the_variable():
    peers = service_identity.PeerChannels(Settings(service="meetings"), None)
    with pytest.raises(service_identity.NoIdentityError, match=r"meetings .* speech .*SECRET"):
        peers.channel("speech")


async def test_peer_channels_are_made_once_per_peer():
    peers = service_identity.PeerChannels(Settings(service="meetings"), identity(FakeAuth([0.0])))
    assert peers.channel("speech") is peers.channel("speech")
    assert peers.channel("speech") is not peers.channel("assistant")
    await peers.close()
