"""Text entries in the database: insert, read, page (with a text search) and delete."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.speech.filed_rows import FiledRows
from services.speech.text_entries.records import NEWEST_FIRST, TextEntryRecord, text_entries

columns = text_entries.c


@dataclass(frozen=True)
class TextEntryFilter:
    """ListTextEntries filters; `owner` None means every owner (admins). `query` matches the
    original text or the transcript, ignoring case (LIKE with its wildcards escaped, so `%` and
    `_` in a query are plain characters)."""

    owner: str | None
    query: str = ""
    language: str = ""

    def where(self) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.owner is not None:
            clauses.append(columns.owner == self.owner)
        if self.language:
            clauses.append(columns.language == self.language)
        if self.query:
            needle = self.query.lower()
            clauses.append(
                sa.or_(
                    sa.func.lower(columns.original_text).contains(needle, autoescape=True),
                    sa.func.lower(columns.transcript).contains(needle, autoescape=True),
                )
            )
        return clauses


class TextEntryStore(FiledRows[TextEntryRecord]):
    """The text-entry table, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        super().__init__(sessions, text_entries, NEWEST_FIRST, TextEntryRecord.from_row)

    async def add(self, record: TextEntryRecord) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(sa.insert(text_entries).values(**record.row()))
