"""The candidates of a Search: passages of every kind the caller may see that contain at least
one of the query's words, found with LIKE over case-folded columns (the same on SQLite and
PostgreSQL; the words' wildcards are escaped), at most CANDIDATES per kind.

Tenancy is in every statement, as query conditions the handler chooses through `voka.tenancy`:
transcripts, summaries and meeting titles and agendas of the meetings the caller may see
(`visible_to`); project descriptions, client notes and chat messages of one owner's projects
and clients.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings.chat.passages import Passage
from services.meetings.chat.store import chat_messages
from services.meetings.clients.store import clients, owned_by, projects
from services.meetings.meetings.store import (
    SummaryStore,
    meetings,
    segments,
    summaries,
    visible_to,
)
from services.meetings.schema import contains_all
from voka.meetings.v1 import knowledge_pb2
from voka.pagination import fingerprint
from voka.wellknown import utc

CANDIDATES = 500
ALL_KINDS = frozenset({
    knowledge_pb2.SOURCE_KIND_TRANSCRIPT, knowledge_pb2.SOURCE_KIND_SUMMARY,
    knowledge_pb2.SOURCE_KIND_PROJECT, knowledge_pb2.SOURCE_KIND_CLIENT,
    knowledge_pb2.SOURCE_KIND_CHAT,
})  # fmt: skip


@dataclass(frozen=True)
class SearchQuery:
    """A Search request, checked: folded words, filters (empty or None: any)."""

    words: tuple[str, ...]
    project_id: str = ""
    client_id: str = ""
    kinds: frozenset[int] = ALL_KINDS
    start_from: datetime | None = None
    start_to: datetime | None = None
    min_score: float = 0.0

    def fingerprint(self) -> str:
        kinds = sorted(self.kinds)
        return fingerprint("search", self.words, self.project_id, self.client_id, kinds,
                           self.start_from, self.start_to, self.min_score)  # fmt: skip

    @property
    def timed(self) -> bool:
        return self.start_from is not None or self.start_to is not None

    def in_time(self, column: sa.ColumnElement[Any]) -> list[Any]:
        clauses = []
        if self.start_from is not None:
            clauses.append(column >= self.start_from)
        if self.start_to is not None:
            clauses.append(column < self.start_to)
        return clauses

    def of_projects(self, column: sa.ColumnElement[Any]) -> list[Any]:
        """`column` (a project id) within the project or client asked for."""
        clauses: list[Any] = []
        if self.project_id:
            clauses.append(column == self.project_id)
        if self.client_id:
            of_client = sa.select(projects.c.id).where(projects.c.client_id == self.client_id)
            clauses.append(column.in_(of_client))
        return clauses


def _any(column: sa.ColumnElement[str], words: Sequence[str]) -> sa.ColumnElement[bool]:
    return sa.or_(*contains_all(column, words))


class SearchStore:
    """The search's reads within one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def candidates(
        self, query: SearchQuery, *, meetings_of: str | None, owner: str | None
    ) -> list[Passage]:
        """Passages of the meetings `meetings_of` may see and of the projects, clients and
        chat `owner` owns (None: every meeting, every owner)."""
        found: list[Passage] = []
        meeting_scope = [*visible_to(meetings_of), *query.of_projects(meetings.c.project_id),
                         *query.in_time(meetings.c.start_time)]  # fmt: skip
        if knowledge_pb2.SOURCE_KIND_TRANSCRIPT in query.kinds:
            found += await self._transcripts(query, meeting_scope)
        if knowledge_pb2.SOURCE_KIND_SUMMARY in query.kinds:
            found += await self._summaries(query, meeting_scope)
        if knowledge_pb2.SOURCE_KIND_PROJECT in query.kinds:
            found += await self._meetings(query, meeting_scope)
            if not query.timed:
                found += await self._projects(owner, query)
        if (
            knowledge_pb2.SOURCE_KIND_CLIENT in query.kinds
            and not query.timed
            and not query.project_id
        ):
            found += await self._clients(owner, query)
        if knowledge_pb2.SOURCE_KIND_CHAT in query.kinds:
            found += await self._chat(owner, query)
        return found

    async def _rows(self, statement: sa.Select[Any]) -> list[sa.Row[Any]]:
        return list(await self._session.execute(statement.limit(CANDIDATES)))

    async def _transcripts(self, query: SearchQuery, scope: list[Any]) -> list[Passage]:
        rows = await self._rows(
            sa.select(segments, meetings.c.title, meetings.c.start_time, meetings.c.project_id)
            .join(meetings, meetings.c.id == segments.c.meeting_id)
            .where(*scope, _any(segments.c.text_key, query.words))
        )
        return [Passage(knowledge_pb2.SOURCE_KIND_TRANSCRIPT, r.text, r.title, utc(r.start_time),
                        r.project_id, r.meeting_id, r.recording_id, r.start_ms, r.end_ms)
                for r in rows]  # fmt: skip

    async def _summaries(self, query: SearchQuery, scope: list[Any]) -> list[Passage]:
        rows = await self._rows(
            sa.select(meetings.c.id, meetings.c.title, meetings.c.start_time,
                      meetings.c.project_id)
            .join(summaries, summaries.c.meeting_id == meetings.c.id)
            .where(*scope, summaries.c.generate_time.is_not(None),
                   _any(summaries.c.search_text, query.words))
        )  # fmt: skip
        found = await SummaryStore(self._session).of_meetings([r.id for r in rows])
        return [Passage(knowledge_pb2.SOURCE_KIND_SUMMARY, "\n".join(found[r.id].content.lines()),
                        r.title, utc(r.start_time), r.project_id, r.id)
                for r in rows if r.id in found]  # fmt: skip

    async def _meetings(self, query: SearchQuery, scope: list[Any]) -> list[Passage]:
        """Meeting titles and agendas."""
        rows = await self._rows(sa.select(meetings).where(
            *scope, _any(meetings.c.search_text, query.words)))  # fmt: skip
        return [Passage(knowledge_pb2.SOURCE_KIND_PROJECT, f"{r.title}\n{r.description}".strip(),
                        r.title, utc(r.start_time), r.project_id, r.id) for r in rows]  # fmt: skip

    async def _projects(self, owner: str | None, query: SearchQuery) -> list[Passage]:
        rows = await self._rows(sa.select(projects).where(
            *owned_by(projects, owner), *query.of_projects(projects.c.id),
            _any(projects.c.search_text, query.words)))  # fmt: skip
        return [Passage(knowledge_pb2.SOURCE_KIND_PROJECT, f"{r.title}\n{r.description}".strip(),
                        r.title, utc(r.update_time), r.id) for r in rows]  # fmt: skip

    async def _clients(self, owner: str | None, query: SearchQuery) -> list[Passage]:
        where = [*owned_by(clients, owner), _any(clients.c.search_text, query.words)]
        if query.client_id:
            where.append(clients.c.id == query.client_id)
        rows = await self._rows(sa.select(clients).where(*where))
        return [Passage(knowledge_pb2.SOURCE_KIND_CLIENT,
                        f"{r.display_name}\n{r.company}\n{r.notes}".strip(), r.display_name,
                        utc(r.update_time), client_id=r.id)
                for r in rows]  # fmt: skip

    async def _chat(self, owner: str | None, query: SearchQuery) -> list[Passage]:
        owned = sa.select(projects.c.id).where(*owned_by(projects, owner))
        rows = await self._rows(
            sa.select(chat_messages, projects.c.title)
            .join(projects, projects.c.id == chat_messages.c.project_id)
            .where(chat_messages.c.project_id.in_(owned),
                   *query.of_projects(chat_messages.c.project_id),
                   *query.in_time(chat_messages.c.create_time),
                   _any(chat_messages.c.content_key, query.words))
        )  # fmt: skip
        return [Passage(knowledge_pb2.SOURCE_KIND_CHAT, r.content, r.title, utc(r.create_time),
                        r.project_id, chat_id=r.id) for r in rows]  # fmt: skip
