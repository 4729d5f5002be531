"""Memories as the turns and the RPCs use them: learn from a user's message after their turn,
recall the relevant ones for a new turn, and the user's own create, edit and delete. Nothing is
stored or recalled while the user's memory is off, and only users have memories (a service's
turns, `services/…`, never do)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from services.assistant.embeddings.embedder import Embedder
from services.assistant.embeddings.engine import Purpose
from services.assistant.memory import retrieval
from services.assistant.memory.extraction import PREFERENCE, Candidate, Extractor
from services.assistant.memory.records import Kind, MemoryRecord, Vector
from services.assistant.memory.store import MemoryStore
from services.assistant.profile.profiles import Profiles
from voka import errors

log = logging.getLogger(__name__)

USER = "user"  # Memory.source of what the user wrote or edited
QUERY_CHARS = 2000  # of a turn's message, embedded to find its memories


def now() -> datetime:
    return datetime.now(UTC)


class Memories:
    """Memories against their store, the embedder, an extractor and the profiles."""

    def __init__(
        self,
        store: MemoryStore,
        embedder: Embedder,
        extractor: Extractor,
        profiles: Profiles,
        *,
        count: int,
        budget: int,
    ) -> None:
        self._store = store
        self._embedder = embedder
        self._extractor = extractor
        self._profiles = profiles
        self._count = count
        self._budget = budget

    async def enabled(self, owner: str) -> bool:
        """Whether `owner` has memory: a user whose profile has it on."""
        return owner.startswith("users/") and (await self._profiles.get(owner)).memory_enabled

    async def learn(self, owner: str, conversation: str, message: str) -> list[MemoryRecord]:
        """Store what `message` says worth remembering (not what is remembered already); a
        stated preference also teaches the profile."""
        if not await self.enabled(owner):
            return []
        known = await self._store.contents(owner)
        fresh: dict[str, Candidate] = {}
        for found in await self._extractor.extract(message):
            if found.content.casefold() not in known:
                fresh.setdefault(found.content.casefold(), found)
        if not fresh:
            return []
        vectors = await self._vectors([c.content for c in fresh.values()])
        stored = []
        for found, vector in zip(fresh.values(), vectors, strict=True):
            stamp = now()
            record = MemoryRecord(
                uuid.uuid4().hex, owner, found.content, found.kind, found.slot,
                self._extractor.source, conversation, vector, stamp, stamp,
            )  # fmt: skip
            await self._store.add(record)
            if found.kind == PREFERENCE:
                await self._profiles.prefer(owner, found.content)
            stored.append(record)
        return stored

    async def recall(self, owner: str, message: str, tokens: Callable[[str], int]) -> list[str]:
        """The contents of `owner`'s memories most relevant to `message`, at most `count`,
        within the token budget; [] with memory off. A failure to embed (the embedder
        overloaded) costs the turn its memories, never the turn itself."""
        if not await self.enabled(owner):
            return []
        theirs = await self._store.of(owner)
        if not theirs:
            return []
        try:
            embedded = await self._embedder.embed(
                [message[:QUERY_CHARS]], "", Purpose.QUERY, "message"
            )
        except errors.VokaError as exc:
            log.warning("memories not recalled for %s: %s", owner, exc)
            return []
        best = await asyncio.to_thread(retrieval.ranked, embedded.vectors[0], theirs)
        chosen = retrieval.within(best, self._count, self._budget, tokens)
        return [memory.content for memory in chosen]

    async def create(self, owner: str, content: str, kind: Kind) -> MemoryRecord:
        """A memory the user wrote."""
        (vector,) = await self._vectors([content])
        stamp = now()
        record = MemoryRecord(uuid.uuid4().hex, owner, content, kind, None, USER, "", vector,
                              stamp, stamp)  # fmt: skip
        await self._store.add(record)
        return record

    async def rewrite(self, record: MemoryRecord, content: str, kind: Kind) -> MemoryRecord:
        """The memory with the user's new content (embedded again; the old vector goes);
        NOT_FOUND when it was deleted meanwhile."""
        vector = record.vector
        if content != record.content:
            (vector,) = await self._vectors([content])
            self._embedder.forget([record.content], Purpose.PASSAGE)
        changed = dataclasses.replace(record, content=content, kind=kind, source=USER,
                                      vector=vector, update_time=now())  # fmt: skip
        if not await self._store.replace(changed):
            raise errors.not_found("Memory", record.name)
        return changed

    async def forget(self, record: MemoryRecord) -> None:
        """Delete a memory: its row, its vector and any cached copy of that vector."""
        await self._store.delete([record.id])
        self._embedder.forget([record.content], Purpose.PASSAGE)

    async def _vectors(self, texts: Sequence[str]) -> list[Vector]:
        embedded = await self._embedder.embed(texts, "", Purpose.PASSAGE, "memory.content")
        return list(embedded.vectors)
