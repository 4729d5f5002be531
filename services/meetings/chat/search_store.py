"""What Search reads: per source of passages (transcript segments, summaries, meeting titles
and agendas, projects, clients, chat messages), one statement within the caller's scope and the
query's filters (`_plan`), read three ways: the passages holding a query word (LIKE over
case-folded columns, the same on SQLite and PostgreSQL, wildcards escaped; at most CANDIDATES
per source), the ids of the vectors of every passage in scope (scored from `chat.vector_cache`,
which reads the vectors it lacks by id), and the passages with given refs (the vector hits'
text). The indexer reads the same statements, unscoped, for passages whose vector is missing or
stale (`stale`).

Tenancy is in every statement, as query conditions the handler chooses through `voka.tenancy`:
transcripts, summaries and meeting titles and agendas of the meetings the caller may see
(`visible_to`); project descriptions, client notes and chat messages of one owner's projects
and clients. Vector ids are only ever read joined to those rows, and only those ids are
scored, so another user's passage never reaches the ranking.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings.chat.passages import Passage
from services.meetings.chat.store import chat_messages
from services.meetings.chat.vectors import Pending, Ref, passage_vectors
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
ID_BATCH = 1000  # vector ids per IN (...) read
ALL_KINDS = frozenset({
    knowledge_pb2.SOURCE_KIND_TRANSCRIPT, knowledge_pb2.SOURCE_KIND_SUMMARY,
    knowledge_pb2.SOURCE_KIND_PROJECT, knowledge_pb2.SOURCE_KIND_CLIENT,
    knowledge_pb2.SOURCE_KIND_CHAT,
})  # fmt: skip


@dataclass(frozen=True)
class SearchQuery:
    """A Search request, checked: folded words, filters (empty or None: any), and the query
    as written (what is embedded for the vector ranking)."""

    words: tuple[str, ...]
    project_id: str = ""
    client_id: str = ""
    kinds: frozenset[int] = ALL_KINDS
    start_from: datetime | None = None
    start_to: datetime | None = None
    min_score: float = 0.0
    text: str = ""

    def fingerprint(self) -> str:
        kinds = sorted(self.kinds)
        return fingerprint("search", self.words, self.project_id, self.client_id, kinds,
                           self.start_from, self.start_to, self.min_score, self.text)  # fmt: skip

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


def _segment(ref: str) -> tuple[str, int]:
    recording, position = ref.split("/")
    return recording, int(position)


@dataclass(frozen=True)
class Source:
    """One kind of passage as search reads it: the folded text words match, the update time
    that makes its vector stale (None: rows never change), how its vector row joins it, and
    which rows have given refs."""

    name: str
    text: sa.ColumnElement[str]
    version: sa.ColumnElement[Any] | None
    vector_join: sa.ColumnElement[bool]
    of_refs: Callable[[list[str]], sa.ColumnElement[bool]]


def _keyed(name: str, row_id: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    """A vector row by its primary key: one index look-up per source row."""
    return sa.and_(passage_vectors.c.source == name, passage_vectors.c.ref == row_id)


# Only segments' vectors have a recording: their (recording_id, position) index alone finds them.
SEGMENT = Source(
    "segment", segments.c.text_key, None,
    sa.and_(passage_vectors.c.recording_id == segments.c.recording_id,
            passage_vectors.c.position == segments.c.position),
    lambda refs: sa.tuple_(segments.c.recording_id, segments.c.position).in_(
        [_segment(r) for r in refs]),
)  # fmt: skip
SUMMARY = Source("summary", summaries.c.search_text, summaries.c.update_time,
                 _keyed("summary", meetings.c.id), meetings.c.id.in_)  # fmt: skip
MEETING = Source("meeting", meetings.c.search_text, meetings.c.update_time,
                 _keyed("meeting", meetings.c.id), meetings.c.id.in_)  # fmt: skip
PROJECT = Source("project", projects.c.search_text, projects.c.update_time,
                 _keyed("project", projects.c.id), projects.c.id.in_)  # fmt: skip
CLIENT = Source("client", clients.c.search_text, clients.c.update_time,
                _keyed("client", clients.c.id), clients.c.id.in_)  # fmt: skip
CHAT = Source("chat", chat_messages.c.content_key, None,
              _keyed("chat", chat_messages.c.id), chat_messages.c.id.in_)  # fmt: skip
SOURCES = (SEGMENT, SUMMARY, MEETING, PROJECT, CLIENT, CHAT)

Match = Callable[[Source], "sa.ColumnElement[bool] | None"]  # None: no row of that source


def by_words(words: Sequence[str]) -> Match:
    """Rows holding any of the (folded) words."""
    return lambda source: _any(source.text, words)


def by_refs(refs: Iterable[Ref]) -> Match:
    """Rows with these refs."""
    grouped: dict[str, list[str]] = {}
    for source, ref in refs:
        grouped.setdefault(source, []).append(ref)
    return lambda source: source.of_refs(grouped[source.name]) if source.name in grouped else None


Plan = list[tuple[Source, sa.Select[Any]]]


class SearchStore:
    """The search's reads within one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def candidates(
        self, query: SearchQuery, *, meetings_of: str | None, owner: str | None
    ) -> dict[Ref, Passage]:
        """Passages holding a query word, among the meetings `meetings_of` may see and the
        projects, clients and chat `owner` owns (None: every meeting, every owner); at most
        CANDIDATES per source."""
        return await self.passages(query, by_words(query.words), meetings_of=meetings_of,
                                   owner=owner, limit=CANDIDATES)  # fmt: skip

    async def passages(
        self, query: SearchQuery, match: Match, *, meetings_of: str | None, owner: str | None,
        limit: int | None = None,
    ) -> dict[Ref, Passage]:  # fmt: skip
        """The passages in the same scope as `candidates` that `match` picks."""
        found: dict[Ref, Passage] = {}
        for source, statement in self._plan(query, meetings_of, owner):
            where = match(source)
            if where is not None:
                rows = list(await self._session.execute(statement.where(where).limit(limit)))
                found |= await self._build(source, rows)
        return found

    async def vector_ids(
        self, query: SearchQuery, model: str, *, meetings_of: str | None, owner: str | None
    ) -> tuple[list[Ref], list[str]]:
        """The passages in the same scope as `candidates` that have a vector (of `model`), and
        those vectors' ids: tenancy and filters first, similarity after (`chat.vector_cache`)."""
        refs: list[Ref] = []
        ids: list[str] = []
        columns = (passage_vectors.c.ref, passage_vectors.c.id)
        for source, statement in self._plan(query, meetings_of, owner):
            vectors = (statement.join(passage_vectors, source.vector_join)
                       .with_only_columns(*columns, maintain_column_froms=True)
                       .where(passage_vectors.c.model == model))  # fmt: skip
            for ref, vector_id in await self._session.execute(vectors):
                refs.append((source.name, ref))
                ids.append(vector_id)
        return refs, ids

    async def vectors(self, ids: Sequence[str]) -> dict[str, bytes]:
        """The stored vectors with these ids (those still there)."""
        found: dict[str, bytes] = {}
        for first in range(0, len(ids), ID_BATCH):
            chunk = list(ids[first : first + ID_BATCH])
            rows = await self._session.execute(
                sa.select(passage_vectors.c.id, passage_vectors.c.vector)
                .where(passage_vectors.c.id.in_(chunk)))  # fmt: skip
            found |= {vector_id: vector for vector_id, vector in rows}
        return found

    async def stale(self, limit: int) -> list[Pending]:
        """Up to `limit` passages, of anyone, whose vector is missing or older than their
        source: what the indexer embeds next."""
        pending: list[Pending] = []
        for source, statement in self._plan(SearchQuery(()), None, None):
            vector_time = passage_vectors.c.source_time
            old = sa.false() if source.version is None else sa.or_(
                vector_time.is_(None), vector_time != source.version)  # fmt: skip
            version = source.version if source.version is not None else sa.null()
            rows = list(await self._session.execute(
                statement.outerjoin(passage_vectors, source.vector_join)
                .add_columns(version.label("version"))
                .where(sa.or_(passage_vectors.c.ref.is_(None), old))
                .limit(limit - len(pending))
            ))  # fmt: skip
            times = {_ref(source, r): r.version for r in rows}
            built = await self._build(source, rows)
            pending += [Pending(ref, p, _optional_utc(times[ref[1]])) for ref, p in built.items()]
            if len(pending) >= limit:
                break
        return pending

    def _plan(self, query: SearchQuery, meetings_of: str | None, owner: str | None) -> Plan:
        """What each source reads within the caller's scope and the query's filters."""
        plan: Plan = []
        meeting_scope = [*visible_to(meetings_of), *query.of_projects(meetings.c.project_id),
                         *query.in_time(meetings.c.start_time)]  # fmt: skip
        if knowledge_pb2.SOURCE_KIND_TRANSCRIPT in query.kinds:
            plan.append((SEGMENT, sa.select(segments, meetings.c.title, meetings.c.start_time,
                                            meetings.c.project_id)
                         .join(meetings, meetings.c.id == segments.c.meeting_id)
                         .where(*meeting_scope)))  # fmt: skip
        if knowledge_pb2.SOURCE_KIND_SUMMARY in query.kinds:
            written = summaries.c.generate_time.is_not(None)
            plan.append((SUMMARY, sa.select(meetings.c.id, meetings.c.title, meetings.c.start_time,
                                            meetings.c.project_id)
                         .join(summaries, summaries.c.meeting_id == meetings.c.id)
                         .where(*meeting_scope, written)))  # fmt: skip
        if knowledge_pb2.SOURCE_KIND_PROJECT in query.kinds:
            plan.append((MEETING, sa.select(meetings).where(*meeting_scope)))
            if not query.timed:
                plan.append((PROJECT, sa.select(projects).where(
                    *owned_by(projects, owner), *query.of_projects(projects.c.id))))  # fmt: skip
        if (
            knowledge_pb2.SOURCE_KIND_CLIENT in query.kinds
            and not query.timed
            and not query.project_id
        ):
            where = owned_by(clients, owner)
            if query.client_id:
                where.append(clients.c.id == query.client_id)
            plan.append((CLIENT, sa.select(clients).where(*where)))
        if knowledge_pb2.SOURCE_KIND_CHAT in query.kinds:
            owned = sa.select(projects.c.id).where(*owned_by(projects, owner))
            plan.append((CHAT, sa.select(chat_messages, projects.c.title)
                         .join(projects, projects.c.id == chat_messages.c.project_id)
                         .where(chat_messages.c.project_id.in_(owned),
                                *query.of_projects(chat_messages.c.project_id),
                                *query.in_time(chat_messages.c.create_time))))  # fmt: skip
        return plan

    async def _build(self, source: Source, rows: list[sa.Row[Any]]) -> dict[Ref, Passage]:
        """The passages of rows read by `source`'s statement."""
        if source is SUMMARY:
            found = await SummaryStore(self._session).of_meetings([r.id for r in rows])
            return {(source.name, r.id): Passage(
                knowledge_pb2.SOURCE_KIND_SUMMARY, "\n".join(found[r.id].content.lines()),
                r.title, utc(r.start_time), r.project_id, r.id)
                for r in rows if r.id in found}  # fmt: skip
        return {(source.name, _ref(source, r)): _PASSAGES[source.name](r) for r in rows}


def _ref(source: Source, row: sa.Row[Any]) -> str:
    return f"{row.recording_id}/{row.position}" if source is SEGMENT else str(row.id)


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


_PASSAGES: dict[str, Callable[[sa.Row[Any]], Passage]] = {
    "segment": lambda r: Passage(knowledge_pb2.SOURCE_KIND_TRANSCRIPT, r.text, r.title,
                                 utc(r.start_time), r.project_id, r.meeting_id, r.recording_id,
                                 r.start_ms, r.end_ms),
    "meeting": lambda r: Passage(knowledge_pb2.SOURCE_KIND_PROJECT,
                                 f"{r.title}\n{r.description}".strip(), r.title,
                                 utc(r.start_time), r.project_id, r.id),
    "project": lambda r: Passage(knowledge_pb2.SOURCE_KIND_PROJECT,
                                 f"{r.title}\n{r.description}".strip(), r.title,
                                 utc(r.update_time), r.id),
    "client": lambda r: Passage(knowledge_pb2.SOURCE_KIND_CLIENT,
                                f"{r.display_name}\n{r.company}\n{r.notes}".strip(),
                                r.display_name, utc(r.update_time), client_id=r.id),
    "chat": lambda r: Passage(knowledge_pb2.SOURCE_KIND_CHAT, r.content, r.title,
                              utc(r.create_time), r.project_id, chat_id=r.id),
}  # fmt: skip
