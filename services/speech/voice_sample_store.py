"""Voice samples' metadata in the database (read, paged and removed as `FiledRows`), and each
owner's usage for the quota."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.speech.filed_rows import FiledRows
from services.speech.records import VoiceSampleRecord, newest_first, voice_samples
from voka import pagination

columns = voice_samples.c
NEWEST_FIRST: pagination.Order[VoiceSampleRecord] = newest_first(voice_samples)


@dataclass(frozen=True)
class Usage:
    """What one owner stores."""

    count: int
    bytes: int


@dataclass(frozen=True)
class VoiceSampleFilter:
    """ListVoiceSamples filters; `owner` None means every owner (admins)."""

    owner: str | None
    language: str = ""

    def where(self) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.owner is not None:
            clauses.append(columns.owner == self.owner)
        if self.language:
            clauses.append(columns.language == self.language)
        return clauses


class QuotaExceeded(Exception):
    """The insert would take the owner beyond its quota; `usage` is before it."""

    def __init__(self, usage: Usage) -> None:
        super().__init__("voice sample quota exceeded")
        self.usage = usage


class VoiceSampleStore(FiledRows[VoiceSampleRecord]):
    """The voice-sample table, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions, voice_samples, NEWEST_FIRST, VoiceSampleRecord.from_row)

    async def add(self, record: VoiceSampleRecord, max_count: int, max_bytes: int) -> Usage:
        """Insert within the owner's quota; the usage after it. The row goes in first and the
        totals are read in the same transaction, so on SQLite (one writer at a time) two
        uploads racing cannot both slip under the limit."""
        async with self._sessions() as session, session.begin():
            await session.execute(sa.insert(voice_samples).values(**record.__dict__))
            usage = await _usage(session, record.owner)
            if usage.count > max_count or usage.bytes > max_bytes:
                raise QuotaExceeded(Usage(usage.count - 1, usage.bytes - record.size_bytes))
        return usage

    async def usage(self, owner: str) -> Usage:
        async with self._sessions() as session:
            return await _usage(session, owner)

    async def update(self, sample_id: str, values: dict[str, Any]) -> VoiceSampleRecord | None:
        statement = (
            sa.update(voice_samples)
            .where(columns.id == sample_id)
            .values(**values)
            .returning(*columns)
        )
        async with self._sessions() as session, session.begin():
            row = (await session.execute(statement)).first()
        return None if row is None else VoiceSampleRecord.from_row(row)


async def _usage(session: AsyncSession, owner: str) -> Usage:
    query = sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(columns.size_bytes), 0))
    count, total = (await session.execute(query.where(columns.owner == owner))).one()
    return Usage(int(count), int(total))
