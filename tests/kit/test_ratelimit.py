"""voka.ratelimit: the token bucket per caller and the hook that refuses with RetryInfo."""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest
from google.rpc import error_details_pb2

from voka import authn, ratelimit
from voka.errors import VokaError
from voka.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_the_average_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2.0, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.5)  # one token comes every half second
    assert limiter.take("b") == 0.0  # a bucket per key
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0


def test_idle_buckets_are_swept() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1.0, burst=2, clock=clock)
    limiter.take("a")
    clock.now += ratelimit.SWEEP_EVERY + 1
    limiter.take("b")
    assert len(limiter) == 1


def test_a_rate_that_is_no_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0, burst=1)


async def _through_hook(limiter: RateLimiter, identity: authn.Identity | None) -> None:
    authn._caller.set(identity)
    async with ratelimit.rate_limit_hook(limiter)(None):  # type: ignore[arg-type]
        pass


def _user(subject: str) -> authn.Identity:
    return authn.Identity(subject, frozenset({"user"}), "jti", 0.0)


async def test_the_hook_refuses_with_retry_info() -> None:
    limiter = RateLimiter(rate=0.5, burst=1, clock=Clock())
    await _through_hook(limiter, _user("users/u1"))
    with pytest.raises(VokaError) as err:
        await _through_hook(limiter, _user("users/u1"))
    status = err.value.to_status()
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.ToTimedelta() == timedelta(seconds=2)


async def test_services_and_anonymous_callers_are_not_limited_here() -> None:
    limiter = RateLimiter(rate=0.5, burst=1, clock=Clock())
    service = authn.Identity("services/tasks", frozenset({"service"}), "jti", 0.0)
    for identity in (service, service, None, None):
        await _through_hook(limiter, identity)
    assert len(limiter) == 0
