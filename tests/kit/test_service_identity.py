"""voka.service_identity in-process: when a service asks auth for a token, and what its calls
carry. The end-to-end test against the real auth service is in tests/e2e/test_auth.py."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from voka.service_identity import ServiceIdentity, ServiceIdentityInterceptor, _with_token


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


async def test_interceptor_passes_the_token_on():
    auth = FakeAuth([1000.0])
    seen: list[grpc.aio.ClientCallDetails] = []

    async def continuation(details: grpc.aio.ClientCallDetails, request: str) -> str:
        seen.append(details)
        return request.upper()

    interceptor = ServiceIdentityInterceptor(identity(auth))
    details = grpc.aio.ClientCallDetails("/x.Y/Z", None, None, None, None)
    assert await interceptor.intercept_unary_unary(continuation, details, "hi") == "HI"
    assert dict(seen[0].metadata or ()) == {"authorization": "Bearer token-1"}
    assert seen[0].method == "/x.Y/Z"
