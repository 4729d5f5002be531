"""Memories per user: add (replacing the user's memories about the same single-valued thing),
read, page, rewrite and delete. Deleting removes the row, and with it the vector."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.memory.records import MemoryRecord, memories
from services.assistant.records import newest_first


class MemoryStore:
    """`assistant_memories`, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], per_user: int) -> None:
        self._sessions = sessions
        self._per_user = per_user

    async def add(self, record: MemoryRecord) -> None:
        """Store `record`; a memory with a slot replaces the owner's memories of that slot
        (a corrected home replaces the old one), and past `per_user` memories the oldest go."""
        theirs = memories.c.owner == record.owner
        async with self._sessions() as session, session.begin():
            if record.slot is not None:
                await session.execute(
                    memories.delete().where(theirs, memories.c.slot == record.slot)
                )
            await session.execute(memories.insert().values(record.row()))
            keep = (
                sa.select(memories.c.id)
                .where(theirs)
                .order_by(memories.c.create_time.desc(), memories.c.id.desc())
                .limit(self._per_user)
            )
            await session.execute(memories.delete().where(theirs, memories.c.id.not_in(keep)))

    async def get(self, memory_id: str) -> MemoryRecord | None:
        select = sa.select(memories).where(memories.c.id == memory_id)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        return None if row is None else MemoryRecord.from_row(row)

    async def of(self, owner: str) -> list[MemoryRecord]:
        """Every memory of `owner` (at most `per_user`), with vectors, for retrieval."""
        select = sa.select(memories).where(memories.c.owner == owner)
        async with self._sessions() as session:
            rows = (await session.execute(select)).all()
        return [MemoryRecord.from_row(row) for row in rows]

    async def contents(self, owner: str) -> set[str]:
        """What `owner`'s memories say, casefolded: a repeated statement is not stored twice."""
        select = sa.select(memories.c.content).where(memories.c.owner == owner)
        async with self._sessions() as session:
            return {c.casefold() for c in (await session.execute(select)).scalars()}

    async def page(
        self, owner: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[MemoryRecord], bool]:
        """Newest first (`owner` None: everyone's), and whether more follow."""
        select = sa.select(memories)
        if owner is not None:
            select = select.where(memories.c.owner == owner)
        select = newest_first(select, memories, "create_time", after, limit)
        async with self._sessions() as session:
            rows = (await session.execute(select)).all()
        records = [MemoryRecord.from_row(row) for row in rows]
        return records[:limit], len(records) > limit

    async def replace(self, record: MemoryRecord) -> bool:
        """Write a changed memory; False when it was deleted meanwhile."""
        values = record.row()
        update = memories.update().where(memories.c.id == record.id).values(values)
        async with self._sessions() as session, session.begin():
            return bool((await session.execute(update)).rowcount)  # type: ignore[attr-defined]

    async def delete(self, memory_ids: Sequence[str]) -> int:
        if not memory_ids:
            return 0
        delete = memories.delete().where(memories.c.id.in_(memory_ids))
        async with self._sessions() as session, session.begin():
            return int((await session.execute(delete)).rowcount)  # type: ignore[attr-defined]
