"""A conversation's messages, in order.

Appending bumps the conversation's `message_count` with one `UPDATE ... RETURNING` first, which
both numbers the new messages (`seq`) and takes SQLite's write lock before any read, so two
replies finishing together never collide on a sequence number. A turn's request id makes it
idempotent for 24 hours: a retry finds the turn it already answered. The events that report
appended messages (`reply.completed`) are written to the kit's outbox in the same transaction,
so they are published exactly when the messages exist; once committed, the append hints the
owner's WatchConversations streams (`sync.hints`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.records import StoredMessage, conversations, messages
from services.assistant.sync.hints import ChangeHints
from voka.assistant.v1 import assistant_pb2, events_pb2
from voka.outbox import Outbox

IDEMPOTENCY_WINDOW = timedelta(hours=24)


class MessageStore:
    """`assistant_messages` (and the counters of their conversation)."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox, hints: ChangeHints
    ) -> None:
        self._sessions = sessions
        self._outbox = outbox
        self._hints = hints

    async def append(
        self,
        conversation_id: str,
        turn: int,
        batch: Sequence[assistant_pb2.Message],
        *,
        request_id: str | None = None,
        usage: tuple[int, int] = (0, 0),
        events: Sequence[Message] = (),
    ) -> bool:
        """Store messages at the end of the conversation and add their token usage; False
        when the conversation is gone (deleted meanwhile). `events` commit with them, and
        also when the conversation is gone (the reply happened all the same)."""
        now = datetime.now(UTC)
        bump = (
            conversations.update()
            .where(conversations.c.id == conversation_id)
            .values(
                message_count=conversations.c.message_count + len(batch),
                input_tokens=conversations.c.input_tokens + usage[0],
                output_tokens=conversations.c.output_tokens + usage[1],
                last_message_time=now,
                activity_time=now,
                update_time=now,
            )
            .returning(conversations.c.message_count, conversations.c.owner)
        )
        async with self._sessions() as session, session.begin():
            bumped = (await session.execute(bump)).first()
            for event in events:
                await self._outbox.add(session, event)
            if bumped is None:
                return False
            count, owner = bumped
            rows = [
                {
                    "id": message.name.rsplit("/", 1)[-1],
                    "conversation_id": conversation_id,
                    "seq": count - len(batch) + i,
                    "turn": turn,
                    "request_id": request_id,
                    "body": message.SerializeToString(),
                    "create_time": message.create_time.ToDatetime(UTC),
                }
                for i, message in enumerate(batch)
            ]
            if rows:
                await session.execute(messages.insert(), rows)
        added = events_pb2.CONVERSATION_CHANGE_MESSAGES_ADDED
        await self._hints.changed(owner, conversation_id, added)
        return True

    async def after(
        self, conversation_id: str, after_seq: int = -1, limit: int | None = None
    ) -> list[StoredMessage]:
        """Messages oldest first, after position `after_seq`."""
        select = (
            sa.select(messages.c.seq, messages.c.turn, messages.c.body)
            .where(messages.c.conversation_id == conversation_id, messages.c.seq > after_seq)
            .order_by(messages.c.seq)
        )
        if limit is not None:
            select = select.limit(limit)
        async with self._sessions() as session:
            rows = (await session.execute(select)).all()
        return [
            StoredMessage(r.seq, r.turn, assistant_pb2.Message.FromString(r.body)) for r in rows
        ]

    async def get(self, conversation_id: str, message_id: str) -> assistant_pb2.Message | None:
        """One message of a conversation, or None."""
        select = sa.select(messages.c.body).where(
            messages.c.conversation_id == conversation_id, messages.c.id == message_id
        )
        async with self._sessions() as session:
            body = (await session.execute(select)).scalar_one_or_none()
        return None if body is None else assistant_pb2.Message.FromString(body)

    async def newest(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        """The newest `limit` messages, oldest first (FULL view)."""
        select = sa.select(sa.func.max(messages.c.seq)).where(
            messages.c.conversation_id == conversation_id
        )
        async with self._sessions() as session:
            last = (await session.execute(select)).scalar_one_or_none()
        return await self.after(conversation_id, (last or 0) - limit, limit)

    async def turn_of(self, conversation_id: str, request_id: str) -> list[StoredMessage]:
        """The messages of the turn a request id answered within the last 24 hours."""
        since = datetime.now(UTC) - IDEMPOTENCY_WINDOW
        select = sa.select(messages.c.turn).where(
            messages.c.conversation_id == conversation_id,
            messages.c.request_id == request_id,
            messages.c.create_time >= since,
        )
        async with self._sessions() as session:
            turn = (await session.execute(select.limit(1))).scalar_one_or_none()
        if turn is None:
            return []
        every = await self.after(conversation_id)
        return [m for m in every if m.turn == turn]
