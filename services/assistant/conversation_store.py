"""Conversations' settings and counters. Settings change one by one (UpdateConversation), the
counters only through `MessageStore.append`, so an update never undoes a reply's accounting.
Each committed creation, update and deletion hints the owner's WatchConversations streams
(`sync.hints`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.records import (
    ConversationRecord,
    conversation_row,
    conversations,
    messages,
    newest_first,
)
from services.assistant.sync.hints import ChangeHints
from voka.assistant.v1 import events_pb2

# Columns an update leaves alone: identity, creation and what appending messages counts.
KEPT_ON_UPDATE = ("id", "owner", "create_time", "message_count", "input_tokens",
                  "output_tokens", "last_message_time", "context_summary")  # fmt: skip


@dataclass(frozen=True)
class ConversationQuery:
    """ListConversations filters; `owner` None: every owner (admins)."""

    owner: str | None
    title: str = ""


class ConversationStore:
    """`assistant_conversations`, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], hints: ChangeHints) -> None:
        self._sessions = sessions
        self._hints = hints

    async def create(self, record: ConversationRecord) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(conversations.insert().values(conversation_row(record)))
        await self._hints.changed(record.owner, record.id, events_pb2.CONVERSATION_CHANGE_CREATED)

    async def get(self, conversation_id: str) -> ConversationRecord | None:
        select = sa.select(conversations).where(conversations.c.id == conversation_id)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        return None if row is None else ConversationRecord.from_row(row)

    async def page(
        self, query: ConversationQuery, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[ConversationRecord], bool]:
        """Most recently active first, and whether more follow."""
        select = sa.select(conversations).where(*self._filters(query))
        select = newest_first(select, conversations, "activity_time", after, limit)
        async with self._sessions() as session:
            rows = (await session.execute(select)).all()
        records = [ConversationRecord.from_row(r) for r in rows]
        return records[:limit], len(records) > limit

    async def count(self, query: ConversationQuery) -> int:
        select = sa.select(sa.func.count()).select_from(conversations)
        async with self._sessions() as session:
            found = await session.execute(select.where(*self._filters(query)))
        return int(found.scalar_one())

    async def update(self, record: ConversationRecord) -> None:
        """Write a record's settings (not its counters, which only appends change)."""
        values = conversation_row(record)
        for kept in KEPT_ON_UPDATE:
            values.pop(kept)
        update = conversations.update().where(conversations.c.id == record.id).values(values)
        async with self._sessions() as session, session.begin():
            await session.execute(update)
        await self._hints.changed(record.owner, record.id, events_pb2.CONVERSATION_CHANGE_UPDATED)

    async def summarise(self, conversation_id: str, summary: str) -> None:
        """Keep the summary of the turns its latest prompt left out."""
        update = (
            conversations.update()
            .where(conversations.c.id == conversation_id)
            .values(context_summary=summary)
        )
        async with self._sessions() as session, session.begin():
            await session.execute(update)

    async def delete(self, conversation_id: str) -> None:
        """The conversation and its messages, in one transaction."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                messages.delete().where(messages.c.conversation_id == conversation_id)
            )
            owner = (
                await session.execute(
                    conversations.delete()
                    .where(conversations.c.id == conversation_id)
                    .returning(conversations.c.owner)
                )
            ).scalar_one_or_none()
        if owner is not None:
            await self._hints.changed(
                owner, conversation_id, events_pb2.CONVERSATION_CHANGE_DELETED
            )

    async def versions(self, owner: str, limit: int) -> dict[str, tuple[datetime, int]]:
        """(update time, message count) of `owner`'s `limit` most recently active
        conversations, by id: what tells a WatchConversations stream what changed."""
        select = (
            sa.select(
                conversations.c.id, conversations.c.update_time, conversations.c.message_count
            )
            .where(conversations.c.owner == owner)
            .order_by(conversations.c.activity_time.desc(), conversations.c.id.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(select)).all()
        return {r.id: (r.update_time, r.message_count) for r in rows}

    async def existing(self, ids: Collection[str]) -> set[str]:
        """Those of `ids` that still exist."""
        select = sa.select(conversations.c.id).where(conversations.c.id.in_(list(ids)))
        async with self._sessions() as session:
            return set((await session.execute(select)).scalars())

    @staticmethod
    def _filters(query: ConversationQuery) -> list[sa.ColumnElement[bool]]:
        filters: list[sa.ColumnElement[bool]] = []
        if query.owner is not None:
            filters.append(conversations.c.owner == query.owner)
        if query.title:
            pattern = "%" + query.title.lower().replace("\\", "\\\\").replace("%", "\\%") + "%"
            filters.append(sa.func.lower(conversations.c.display_name).like(pattern, escape="\\"))
        return filters
