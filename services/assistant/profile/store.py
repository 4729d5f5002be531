"""Profiles and the feedback they learned from: a profile is written whole (an upsert); a rating
and the profile it changed commit together."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.profile.records import (
    FeedbackRecord,
    ProfileRecord,
    feedback,
    profiles,
)
from services.assistant.records import upsert


class ProfileStore:
    """`assistant_profiles` and `assistant_feedback`, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, owner: str) -> ProfileRecord:
        """The owner's profile; the neutral one (memory on) when nothing was learned or set."""
        select = sa.select(profiles).where(profiles.c.owner == owner)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        return ProfileRecord(owner) if row is None else ProfileRecord.from_row(row)

    async def rating(self, message: str) -> FeedbackRecord | None:
        """The rating a reply has, if any."""
        select = sa.select(feedback).where(feedback.c.message == message)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        return None if row is None else FeedbackRecord(**row._mapping)

    async def save(
        self, profile: ProfileRecord, rated: FeedbackRecord | None = None, *, forget: bool = False
    ) -> None:
        """Write `profile`, with the rating it learned from (replacing the reply's earlier one)
        or, `forget`, after deleting every rating of its owner (a reset)."""
        async with self._sessions() as session, session.begin():
            if forget:
                await session.execute(feedback.delete().where(feedback.c.owner == profile.owner))
            if rated is not None:
                await session.execute(upsert(session, feedback, dict(rated.__dict__)))
            await session.execute(upsert(session, profiles, dict(profile.__dict__)))
