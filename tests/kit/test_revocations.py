"""voka.revocations: the denylist copy of non-auth services, its expiry, and its feeds (a real
nats-server per test, the auth service's list faked)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from google.protobuf import timestamp_pb2

from tests.fixtures.waiting import eventually
from tools.processes import NatsServer
from voka.auth.v1 import events_pb2
from voka.authn import Identity
from voka.bus import Bus
from voka.revocations import RevocationCache, RevocationFeed

WAIT = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def identity(jti: str) -> Identity:
    return Identity(subject="users/u1", roles=frozenset(), token_id=jti, expires_at=0.0)


def revoked_event(jti: str, expires_at: float) -> events_pb2.AccessTokenRevokedEvent:
    return events_pb2.AccessTokenRevokedEvent(
        token_id=jti,
        subject="users/u1",
        expire_time=timestamp_pb2.Timestamp(seconds=int(expires_at)),
    )


async def revoked(cache: RevocationCache, jti: str) -> None:
    await eventually(lambda: cache.is_revoked(identity(jti)), WAIT)


async def test_events_add_and_expiry_prunes() -> None:
    clock = Clock()
    cache = RevocationCache(clock)
    cache.on_event(revoked_event("a", clock.now + 60))
    cache.on_event(revoked_event("b", clock.now + 600))
    cache.on_event(revoked_event("old", clock.now - 1))  # already expired: never stored
    assert await cache.is_revoked(identity("a"))
    assert await cache.is_revoked(identity("b"))
    assert not await cache.is_revoked(identity("old"))
    assert not await cache.is_revoked(identity("other"))
    assert len(cache) == 2

    clock.now += 61
    assert not await cache.is_revoked(identity("a"))  # expired: no longer matters
    cache.prune()
    assert len(cache) == 1
    assert await cache.is_revoked(identity("b"))


async def test_a_later_expiry_wins() -> None:
    clock = Clock()
    cache = RevocationCache(clock)
    cache.add("a", clock.now + 600)
    cache.add("a", clock.now + 60)
    clock.now += 120
    assert await cache.is_revoked(identity("a"))


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    opened = await Bus.connect(nats_server.url, "revocations-test", reconnect_wait=0.2)
    yield opened
    await opened.close()


async def test_every_replica_gets_every_event_and_the_list_is_loaded(bus: Bus) -> None:
    future = time.time() + 600

    async def load() -> list[tuple[str, float]]:
        return [("listed", future)]

    replicas = [RevocationFeed(RevocationCache(), bus, load) for _ in range(2)]
    for feed in replicas:
        await feed.start()
    try:
        await bus.publish(revoked_event("published", future))
        for feed in replicas:
            await revoked(feed.cache, "published")
            await asyncio.wait_for(feed.loaded.wait(), WAIT)
            assert await feed.cache.is_revoked(identity("listed"))
    finally:
        for feed in replicas:
            await feed.stop()


async def test_a_failing_load_is_retried_and_events_count_meanwhile(bus: Bus) -> None:
    future = time.time() + 600
    calls = 0

    async def load() -> list[tuple[str, float]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("auth is not up yet")
        return [("listed", future)]

    feed = RevocationFeed(RevocationCache(), bus, load)
    await feed.start()
    try:
        await bus.publish(revoked_event("published", future))
        await revoked(feed.cache, "published")
        await asyncio.wait_for(feed.loaded.wait(), WAIT)
        assert await feed.cache.is_revoked(identity("listed"))
        assert calls == 2
    finally:
        await feed.stop()


async def test_without_a_service_secret_only_events_count(
    bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    feed = RevocationFeed(RevocationCache(), bus, None)
    await feed.start()
    try:
        assert "revoked tokens come from events only" in caplog.text
        await bus.publish(revoked_event("published", time.time() + 600))
        await revoked(feed.cache, "published")
    finally:
        await feed.stop()
