"""voka.revocations: the denylist copy of non-auth services, what its entries cover, their expiry,
and its feeds (a real nats-server per test, the auth service's list faked)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from google.protobuf import timestamp_pb2

from tests.fixtures.waiting import eventually
from tools.processes import NatsServer
from voka.auth.v1 import auth_pb2, events_pb2
from voka.authn import Identity
from voka.bus import Bus
from voka.revocations import Revocation, RevocationCache, RevocationFeed

WAIT = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def identity(
    jti: str, subject: str = "users/u1", session_id: str = "", issued_at: float = 0.0
) -> Identity:
    return Identity(
        subject=subject,
        roles=frozenset(),
        token_id=jti,
        expires_at=0.0,
        session_id=session_id,
        issued_at=issued_at,
    )


def token(jti: str, expires_at: float) -> Revocation:
    return Revocation(token_id=jti, subject="users/u1", expires_at=expires_at)


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
    cache.add(token("a", clock.now + 600))
    cache.add(token("a", clock.now + 60))
    clock.now += 120
    assert await cache.is_revoked(identity("a"))


async def test_a_session_cut_covers_its_earlier_tokens_only() -> None:
    """Logout or a revoked API key: every token of that session (`sid`) issued before the cut,
    those of earlier refreshes too; not other sessions', nor tokens issued after."""
    clock = Clock()
    cache = RevocationCache(clock)
    cache.on_event(
        events_pb2.AccessTokenRevokedEvent(
            subject="users/u1",
            session_id="s1",
            issued_before=timestamp_pb2.Timestamp(seconds=900, nanos=500_000_000),
            expire_time=timestamp_pb2.Timestamp(seconds=1_800),
        )
    )
    assert await cache.is_revoked(identity("first", session_id="s1", issued_at=100.0))
    assert await cache.is_revoked(identity("refreshed", session_id="s1", issued_at=900.4))
    assert not await cache.is_revoked(identity("later", session_id="s1", issued_at=900.6))
    assert not await cache.is_revoked(identity("other", session_id="s2", issued_at=100.0))
    assert not await cache.is_revoked(identity("other user", "users/u2", "s1", issued_at=100.0))
    clock.now = 1_801  # every token it covered has expired: the entry goes
    cache.prune()
    assert len(cache) == 0


async def test_a_subject_cut_covers_every_token_of_the_subject_issued_before() -> None:
    """Password change, disabled, demoted: every session and every exchanged API-key token."""
    clock = Clock()
    cache = RevocationCache(clock)
    cache.add(Revocation(subject="users/u1", issued_before=950.0, expires_at=1_850))
    cache.add(Revocation(subject="users/u1", issued_before=900.0, expires_at=1_800))  # older
    for session in ("s1", "s2", ""):
        assert await cache.is_revoked(identity("t", session_id=session, issued_at=920.0))
    assert not await cache.is_revoked(identity("fresh", session_id="s3", issued_at=950.1))
    assert not await cache.is_revoked(identity("t", "users/u2", issued_at=920.0))
    assert len(cache) == 1  # the later cut holds the earlier one


def test_listed_entries_read_like_events() -> None:
    listed = auth_pb2.RevokedToken(
        subject="users/u1",
        session_id="s1",
        issued_before=timestamp_pb2.Timestamp(seconds=900, nanos=250_000_000),
        expire_time=timestamp_pb2.Timestamp(seconds=1_800),
    )
    assert Revocation.of(listed) == Revocation(
        subject="users/u1", session_id="s1", issued_before=900.25, expires_at=1_800
    )
    assert Revocation.of(revoked_event("a", 1_800)) == token("a", 1_800)


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    opened = await Bus.connect(nats_server.url, "revocations-test", reconnect_wait=0.2)
    yield opened
    await opened.close()


async def test_every_replica_gets_every_event_and_the_list_is_loaded(bus: Bus) -> None:
    future = time.time() + 600

    async def load() -> list[Revocation]:
        return [token("listed", future)]

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

    async def load() -> list[Revocation]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("auth is not up yet")
        return [token("listed", future)]

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


async def test_a_lost_event_is_made_good_by_the_periodic_reload(bus: Bus) -> None:
    """The feed reloads the whole list every `reload_seconds` (30 by default): a revocation whose
    event this process never saw, NATS connected all along, still arrives within that bound."""
    listed: list[Revocation] = []

    async def load() -> list[Revocation]:
        return list(listed)

    feed = RevocationFeed(RevocationCache(), bus, load, reload_seconds=0.2)
    await feed.start()
    try:
        await asyncio.wait_for(feed.loaded.wait(), WAIT)
        listed.append(token("missed", time.time() + 600))  # revoked; its event was lost
        await revoked(feed.cache, "missed")
    finally:
        await feed.stop()
