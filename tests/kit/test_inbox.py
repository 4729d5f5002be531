"""voka.inbox on SQLite and PostgreSQL: a claim succeeds once per consumer and event."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voka import db, inbox


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.create_engine(database_url)
    await db.migrate(engine, "kit-tests")
    yield db.session_factory(engine)
    await engine.dispose()


async def _claim(sessions: async_sessionmaker[AsyncSession], consumer: str, event: str) -> bool:
    async with sessions() as session, session.begin():
        return await inbox.claim(session, consumer, event)


async def test_claim_once_per_consumer(sessions):
    assert await _claim(sessions, "mailer", "e1") is True
    assert await _claim(sessions, "mailer", "e1") is False
    assert await _claim(sessions, "billing", "e1") is True  # another consumer, its own claim
    assert await _claim(sessions, "mailer", "e2") is True


async def test_rolled_back_claim_is_forgotten(sessions):
    async def claim_then_fail() -> None:
        async with sessions() as session, session.begin():
            assert await inbox.claim(session, "mailer", "e1") is True
            raise RuntimeError("effect failed")

    with pytest.raises(RuntimeError):
        await claim_then_fail()
    assert await _claim(sessions, "mailer", "e1") is True


async def test_concurrent_claim_waits_and_loses(sessions):
    async with sessions() as first, first.begin():
        assert await inbox.claim(first, "mailer", "e1") is True
        second = asyncio.create_task(_claim(sessions, "mailer", "e1"))
        await asyncio.sleep(0.3)
        assert not second.done()  # blocked on the uncommitted claim, not guessing
    assert await asyncio.wait_for(second, 5) is False


async def test_prune_forgets_old_claims(sessions):
    for event in ("old1", "old2", "new"):
        await _claim(sessions, "mailer", event)
    long_ago = datetime.now(UTC) - timedelta(days=10)
    async with sessions() as session, session.begin():
        await session.execute(
            update(inbox.inbox_table)
            .where(inbox.inbox_table.c.event_id.like("old%"))
            .values(processed_at=long_ago)
        )
    async with sessions() as session, session.begin():
        assert await inbox.prune(session, datetime.now(UTC) - timedelta(days=1)) == 2
    async with sessions() as session:
        left = await session.scalars(select(inbox.inbox_table.c.event_id))
        assert list(left) == ["new"]
        with pytest.raises(ValueError, match="timezone"):
            await inbox.prune(session, datetime.now())


async def test_claim_stores_time_in_utc(sessions):
    before = datetime.now(UTC)
    await _claim(sessions, "mailer", "e1")
    async with sessions() as session:
        stored = await session.scalar(select(func.max(inbox.inbox_table.c.processed_at)))
    assert stored is not None
    stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)  # SQLite keeps no zone
    assert before - timedelta(seconds=5) < stored < datetime.now(UTC) + timedelta(seconds=5)
