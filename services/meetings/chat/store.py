"""A project's chat history: its table and every query on it.

Only who may see a project reaches its chat (the handlers check the project first, through
`voka.tenancy`); rows go with the project by cascade. A question and its answer are written
together once the answer is complete, so a failed or cancelled ask leaves no half turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from google.protobuf import json_format
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings.chat import changes
from services.meetings.chat.records import ChatRecord
from services.meetings.schema import fold, metadata
from voka.meetings.v1 import knowledge_pb2
from voka.pagination import Listing, Order, Page
from voka.wellknown import utc

# Mirrors migrations/versions/0003_chat_search.py; the migration is what creates it.
chat_messages = sa.Table(
    "meetings_chat_messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("project_id", sa.String(32), sa.ForeignKey("meetings_projects.id"), nullable=False),
    sa.Column("role", sa.Integer(), nullable=False),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("content_key", sa.Text(), nullable=False),
    sa.Column("citations", sa.Text(), nullable=False),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("reply_to", sa.String(32), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

CHAT_ORDER: Order[ChatRecord] = Order(
    chat_messages.c.create_time, chat_messages.c.id, False, "datetime", lambda r: r.create_time
)


class ChatStore:
    """Reads and writes of chat messages within one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, records: Sequence[ChatRecord]) -> None:
        await self._session.execute(sa.insert(chat_messages), [_row(r) for r in records])
        changes.written(self._session)

    async def page(self, project_id: str, page: Page) -> Listing[ChatRecord]:
        """Oldest first, one keyset page."""
        statement = sa.select(chat_messages).where(chat_messages.c.project_id == project_id)
        if page.cursor is not None:
            statement = statement.where(CHAT_ORDER.after(page.cursor))
        statement = statement.order_by(*CHAT_ORDER.clauses()).limit(page.size + 1)
        rows = [_record(row) for row in await self._session.execute(statement)]
        return Listing(rows[: page.size], len(rows) > page.size, 0)

    async def recent(self, project_id: str, count: int) -> list[ChatRecord]:
        """The last `count` messages, oldest first."""
        statement = (
            sa.select(chat_messages)
            .where(chat_messages.c.project_id == project_id)
            .order_by(*(c.desc() for c in (chat_messages.c.create_time, chat_messages.c.id)))
            .limit(count)
        )
        return [_record(row) for row in await self._session.execute(statement)][::-1]

    async def question_counts(self, project_ids: Iterable[str]) -> dict[str, int]:
        statement = (
            sa.select(chat_messages.c.project_id, sa.func.count())
            .where(
                chat_messages.c.project_id.in_(list(project_ids)),
                chat_messages.c.role == knowledge_pb2.CHAT_ROLE_USER,
            )
            .group_by(chat_messages.c.project_id)
        )
        return {project_id: int(n) for project_id, n in await self._session.execute(statement)}


def _row(record: ChatRecord) -> dict[str, Any]:
    citations = [json_format.MessageToDict(c) for c in record.citations]
    return {
        "id": record.id, "project_id": record.project_id, "role": record.role,
        "content": record.content, "content_key": fold(record.content),
        "citations": json.dumps(citations), "author": record.author,
        "reply_to": record.reply_to, "model": record.model, "create_time": record.create_time,
    }  # fmt: skip


def _record(row: sa.Row[Any]) -> ChatRecord:
    data = row._mapping
    citations = tuple(
        json_format.ParseDict(c, knowledge_pb2.Citation()) for c in json.loads(data["citations"])
    )
    return ChatRecord(
        id=data["id"], project_id=data["project_id"], role=data["role"],
        content=data["content"], create_time=utc(data["create_time"]), author=data["author"],
        reply_to=data["reply_to"], model=data["model"], citations=citations,
    )  # fmt: skip
