"""A user's adaptive profile: read, learn from feedback and from stated preferences (rules in
`rules.py`), set by hand, reset, and the system prompt lines it adds to the user's turns."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.assistant.hemisphere import Balance
from services.assistant.profile import rules
from services.assistant.profile.records import FeedbackRecord, ProfileRecord, Rating
from services.assistant.profile.store import ProfileStore
from voka.assistant.v1 import assistant_pb2

LANGUAGES = {"es": "Spanish", "en": "English", "fr": "French", "de": "German", "it": "Italian",
             "pt": "Portuguese", "ca": "Catalan"}  # fmt: skip
VERBOSITY_LINES = {
    assistant_pb2.VERBOSITY_CONCISE: "Keep answers short: a few sentences at most.",
    assistant_pb2.VERBOSITY_DETAILED: "Give thorough, detailed answers.",
}
TONE_LINES = {
    assistant_pb2.TONE_FORMAL: "Use a formal register.",
    assistant_pb2.TONE_CASUAL: "Use a casual, friendly register.",
}
THUMBS_UP = assistant_pb2.FEEDBACK_RATING_THUMBS_UP


def prompt_lines(profile: ProfileRecord) -> list[str]:
    """The system prompt lines of a profile (its balance acts through the balance in force)."""
    lines = [VERBOSITY_LINES.get(profile.verbosity, ""), TONE_LINES.get(profile.tone, "")]
    if profile.language:
        lines.append(f"Answer in {LANGUAGES.get(profile.language, profile.language)}.")
    return [line for line in lines if line]


def now() -> datetime:
    return datetime.now(UTC)


class Profiles:
    """Profiles against their store."""

    def __init__(self, store: ProfileStore) -> None:
        self._store = store

    async def get(self, owner: str) -> ProfileRecord:
        return await self._store.get(owner)

    async def learned_balance(self, owner: str) -> tuple[Balance, datetime | None] | None:
        """The balance the owner's feedback taught, and when; None while nothing was."""
        profile = await self._store.get(owner)
        balance = rules.learned_balance(profile)
        return None if balance is None else (balance, profile.update_time)

    async def rate(
        self, owner: str, reply: assistant_pb2.Message, rating: Rating, reason: str
    ) -> ProfileRecord:
        """Learn from a rating of `reply`; a reply rated again loses its earlier rating's count
        (what that one taught stays)."""
        profile = await self._store.get(owner)
        earlier = await self._store.rating(reply.name)
        if earlier is not None:
            profile = self._counted(profile, earlier.rating, -1)
        profile = self._counted(profile, rating, 1)
        rated = Balance.of(reply.hemisphere) if reply.HasField("hemisphere") else rules.NEUTRAL
        if rating == THUMBS_UP:
            profile = rules.approve(profile, rated)
        else:
            profile = rules.apply(profile, rules.lessons(reason), rated)
        stamp = now()
        profile = dataclasses.replace(profile, update_time=stamp)
        record = FeedbackRecord(reply.name, owner, rating, reason, stamp)
        await self._store.save(profile, record)
        return profile

    async def prefer(self, owner: str, statement: str) -> None:
        """Learn from a preference the user stated ("I prefer short answers")."""
        taught = rules.lessons(statement)
        if not taught:
            return
        profile = await self._store.get(owner)
        learned = rules.apply(profile, taught, rules.learned_balance(profile) or rules.NEUTRAL)
        await self._store.save(dataclasses.replace(learned, update_time=now()))

    async def update(self, owner: str, values: Mapping[str, Any]) -> ProfileRecord:
        """Set fields by hand (`tone`, `language`, `verbosity`, `memory_enabled`)."""
        profile = dataclasses.replace(await self._store.get(owner), **values, update_time=now())
        await self._store.save(profile)
        return profile

    async def reset(self, owner: str) -> ProfileRecord:
        """Forget what was learned and the feedback it came from; memory stays on or off."""
        kept = await self._store.get(owner)
        profile = ProfileRecord(owner, memory_enabled=kept.memory_enabled, update_time=now())
        await self._store.save(profile, forget=True)
        return profile

    @staticmethod
    def _counted(profile: ProfileRecord, rating: int, by: int) -> ProfileRecord:
        field = "positive_feedback" if rating == THUMBS_UP else "negative_feedback"
        return dataclasses.replace(profile, **{field: getattr(profile, field) + by})
