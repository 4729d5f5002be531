"""Voice samples' metadata in the database, and each owner's usage for the quota."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.speech.records import SampleRecord, newest_first, samples

V = samples


@dataclass(frozen=True)
class Usage:
    """What one owner stores."""

    count: int
    bytes: int


@dataclass(frozen=True)
class SampleQuery:
    """ListVoiceSamples filters; `owner` None means every owner (admins)."""

    owner: str | None
    language: str = ""
    after: tuple[datetime, str] | None = None
    limit: int = 50

    def where(self) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.owner is not None:
            clauses.append(V.c.owner == self.owner)
        if self.language:
            clauses.append(V.c.language == self.language)
        return clauses


class QuotaExceeded(Exception):
    """The insert would take the owner beyond its quota; `usage` is before it."""

    def __init__(self, usage: Usage) -> None:
        super().__init__("voice sample quota exceeded")
        self.usage = usage


class SampleStore:
    """The voice-sample table, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, record: SampleRecord, max_count: int, max_bytes: int) -> Usage:
        """Insert within the owner's quota; the usage after it. The row goes in first and the
        totals are read in the same transaction, so on SQLite (one writer at a time) two
        uploads racing cannot both slip under the limit."""
        async with self._sessions() as session, session.begin():
            await session.execute(sa.insert(V).values(**record.__dict__))
            usage = await _usage(session, record.owner)
            if usage.count > max_count or usage.bytes > max_bytes:
                raise QuotaExceeded(Usage(usage.count - 1, usage.bytes - record.size_bytes))
        return usage

    async def usage(self, owner: str) -> Usage:
        async with self._sessions() as session:
            return await _usage(session, owner)

    async def get(self, sample_id: str) -> SampleRecord | None:
        async with self._sessions() as session:
            row = (await session.execute(sa.select(V).where(V.c.id == sample_id))).first()
        return None if row is None else SampleRecord.from_row(row)

    async def page(self, query: SampleQuery) -> tuple[list[SampleRecord], int, bool]:
        """A page newest first, the total matching, and whether more follow."""
        async with self._sessions() as session:
            rows, total, more = await newest_first(
                session, V, query.where(), query.after, query.limit
            )
        return [SampleRecord.from_row(r) for r in rows], total, more

    async def update(self, sample_id: str, values: dict[str, Any]) -> SampleRecord | None:
        statement = sa.update(V).where(V.c.id == sample_id).values(**values).returning(*V.c)
        async with self._sessions() as session, session.begin():
            row = (await session.execute(statement)).first()
        return None if row is None else SampleRecord.from_row(row)

    async def delete(self, sample_id: str) -> str | None:
        """Remove the row; its file's path, or None when it was gone."""
        statement = sa.delete(V).where(V.c.id == sample_id).returning(V.c.path)
        async with self._sessions() as session, session.begin():
            return (await session.execute(statement)).scalar_one_or_none()

    async def erase_owner(self, owner: str) -> list[str]:
        """Remove every sample of `owner`; their file paths."""
        statement = sa.delete(V).where(V.c.owner == owner).returning(V.c.path)
        async with self._sessions() as session, session.begin():
            return list((await session.execute(statement)).scalars())


async def _usage(session: AsyncSession, owner: str) -> Usage:
    query = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(V.c.size_bytes), 0))
    count, total = (await session.execute(query.where(V.c.owner == owner))).one()
    return Usage(int(count), int(total))
