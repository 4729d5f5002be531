"""Persistence of conversations, their messages, users' balances and async completions.

Appending messages bumps the conversation's `message_count` with one `UPDATE ... RETURNING`
first, which both numbers the new messages (`seq`) and takes SQLite's write lock before any
read, so two replies finishing together never collide on a sequence number. Completion state
changes are conditional on the state they leave, so a redelivered or raced job changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.hemisphere import Balance
from services.assistant.records import (
    ConversationRecord,
    balances,
    completions,
    conversation_row,
    conversations,
    messages,
)
from voka.assistant.v1 import assistant_pb2
from voka.wellknown import utc

IDEMPOTENCY_WINDOW = timedelta(hours=24)
Mutation = Callable[[assistant_pb2.Completion], None]


@dataclass(frozen=True)
class StoredMessage:
    """A message with its place: turn number and position in the conversation."""

    seq: int
    turn: int
    message: assistant_pb2.Message


@dataclass(frozen=True)
class ConversationQuery:
    """ListConversations filters; `owner` None: every owner (admins)."""

    owner: str | None
    title: str = ""


class Store:
    """The assistant's tables, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # conversations

    async def create_conversation(self, record: ConversationRecord) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(conversations.insert().values(conversation_row(record)))

    async def conversation(self, conversation_id: str) -> ConversationRecord | None:
        select = sa.select(conversations).where(conversations.c.id == conversation_id)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        return None if row is None else ConversationRecord.from_row(row)

    async def conversations(
        self, query: ConversationQuery, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[ConversationRecord], bool]:
        """Most recently active first, and whether more follow."""
        order = conversations.c.activity_time
        select = sa.select(conversations).where(*_conversation_filters(query))
        if after is not None:
            time, last_id = after
            beyond = sa.and_(order == time, conversations.c.id < last_id)
            select = select.where(sa.or_(order < time, beyond))
        select = select.order_by(order.desc(), conversations.c.id.desc()).limit(limit + 1)
        async with self._sessions() as session:
            rows = (await session.execute(select)).all()
        records = [ConversationRecord.from_row(r) for r in rows]
        return records[:limit], len(records) > limit

    async def count_conversations(self, query: ConversationQuery) -> int:
        select = sa.select(sa.func.count()).select_from(conversations)
        async with self._sessions() as session:
            found = await session.execute(select.where(*_conversation_filters(query)))
        return int(found.scalar_one())

    async def update_conversation(self, record: ConversationRecord) -> None:
        """Write a record's settings (not its counters, which only appends change)."""
        values = conversation_row(record)
        for counter in ("message_count", "input_tokens", "output_tokens", "last_message_time",
                        "create_time", "owner", "id"):  # fmt: skip
            values.pop(counter)
        update = conversations.update().where(conversations.c.id == record.id).values(values)
        async with self._sessions() as session, session.begin():
            await session.execute(update)

    async def delete_conversation(self, conversation_id: str) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                messages.delete().where(messages.c.conversation_id == conversation_id)
            )
            await session.execute(
                conversations.delete().where(conversations.c.id == conversation_id)
            )

    # messages

    async def append(
        self,
        conversation_id: str,
        turn: int,
        batch: Sequence[assistant_pb2.Message],
        *,
        request_id: str | None = None,
        usage: tuple[int, int] = (0, 0),
    ) -> bool:
        """Store messages at the end of the conversation and add their token usage; False
        when the conversation is gone (deleted meanwhile)."""
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
            .returning(conversations.c.message_count)
        )
        async with self._sessions() as session, session.begin():
            count = (await session.execute(bump)).scalar_one_or_none()
            if count is None:
                return False
            rows = [
                {"id": m.name.rsplit("/", 1)[-1], "conversation_id": conversation_id,
                 "seq": count - len(batch) + i, "turn": turn, "request_id": request_id,
                 "body": m.SerializeToString(), "create_time": m.create_time.ToDatetime(UTC)}
                for i, m in enumerate(batch)
            ]  # fmt: skip
            if rows:
                await session.execute(messages.insert(), rows)
        return True

    async def messages(
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

    async def newest_messages(self, conversation_id: str, limit: int) -> list[StoredMessage]:
        """The newest `limit` messages, oldest first (FULL view)."""
        select = sa.select(sa.func.max(messages.c.seq)).where(
            messages.c.conversation_id == conversation_id
        )
        async with self._sessions() as session:
            last = (await session.execute(select)).scalar_one_or_none()
        return await self.messages(conversation_id, (last or 0) - limit, limit)

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
        every = await self.messages(conversation_id)
        return [m for m in every if m.turn == turn]

    # balances

    async def balance(self, owner: str) -> tuple[Balance, datetime] | None:
        select = sa.select(balances).where(balances.c.owner == owner)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        if row is None:
            return None
        return Balance(row.technical, row.emotional), utc(row.update_time)

    async def set_balance(self, owner: str, balance: Balance | None, now: datetime) -> None:
        """Set the user's balance, or remove it (None)."""
        async with self._sessions() as session, session.begin():
            await session.execute(balances.delete().where(balances.c.owner == owner))
            if balance is not None:
                await session.execute(balances.insert().values(
                    owner=owner, technical=balance.technical, emotional=balance.emotional,
                    update_time=now))  # fmt: skip

    # completions

    async def add_completion(
        self, completion: assistant_pb2.Completion, request_id: str | None
    ) -> tuple[assistant_pb2.Completion, bool]:
        """Insert a QUEUED completion; with a known (owner, request id) of the last 24 hours,
        the earlier one and True instead."""
        row = {"id": completion.name.removeprefix("completions/"), "owner": completion.owner,
               "state": completion.state, "request_id": request_id,
               "body": completion.SerializeToString(),
               "create_time": completion.create_time.ToDatetime(UTC)}  # fmt: skip
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(completions.insert().values(row))
            return completion, False
        except IntegrityError:
            known = await self._by_request(completion.owner, request_id or "")
            if known is None:
                raise
            return known, True

    async def _by_request(self, owner: str, request_id: str) -> assistant_pb2.Completion | None:
        select = sa.select(completions.c.body).where(
            completions.c.owner == owner, completions.c.request_id == request_id
        )
        async with self._sessions() as session:
            body = (await session.execute(select)).scalar_one_or_none()
        return None if body is None else assistant_pb2.Completion.FromString(body)

    async def completion(self, completion_id: str) -> assistant_pb2.Completion | None:
        select = sa.select(completions.c.body).where(completions.c.id == completion_id)
        async with self._sessions() as session:
            body = (await session.execute(select)).scalar_one_or_none()
        return None if body is None else assistant_pb2.Completion.FromString(body)

    async def completions(
        self, owner: str | None, state: int, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[assistant_pb2.Completion], bool]:
        """Newest first, and whether more follow."""
        order = completions.c.create_time
        select = sa.select(completions.c.body).where(*_completion_filters(owner, state))
        if after is not None:
            time, last_id = after
            beyond = sa.and_(order == time, completions.c.id < last_id)
            select = select.where(sa.or_(order < time, beyond))
        select = select.order_by(order.desc(), completions.c.id.desc()).limit(limit + 1)
        async with self._sessions() as session:
            bodies = (await session.execute(select)).scalars().all()
        found = [assistant_pb2.Completion.FromString(b) for b in bodies]
        return found[:limit], len(found) > limit

    async def count_completions(self, owner: str | None, state: int) -> int:
        select = sa.select(sa.func.count()).select_from(completions)
        async with self._sessions() as session:
            found = await session.execute(select.where(*_completion_filters(owner, state)))
        return int(found.scalar_one())

    async def change_completion(
        self, completion_id: str, states: Collection[int], mutate: Mutation
    ) -> assistant_pb2.Completion | None:
        """Apply `mutate` if the completion is in one of `states`; the result, or None when it
        was not (someone else moved it first)."""
        async with self._sessions() as session, session.begin():
            select = sa.select(completions.c.body, completions.c.state).where(
                completions.c.id == completion_id
            )
            row = (await session.execute(select)).first()
            if row is None or row.state not in states:
                return None
            completion = assistant_pb2.Completion.FromString(row.body)
            mutate(completion)
            update = (
                completions.update()
                .where(completions.c.id == completion_id, completions.c.state == row.state)
                .values(state=completion.state, body=completion.SerializeToString())
            )
            changed = await session.execute(update)
        return completion if changed.rowcount == 1 else None  # type: ignore[attr-defined]


def _conversation_filters(query: ConversationQuery) -> list[sa.ColumnElement[bool]]:
    filters: list[sa.ColumnElement[bool]] = []
    if query.owner is not None:
        filters.append(conversations.c.owner == query.owner)
    if query.title:
        pattern = "%" + query.title.lower().replace("\\", "\\\\").replace("%", "\\%") + "%"
        filters.append(sa.func.lower(conversations.c.display_name).like(pattern, escape="\\"))
    return filters


def _completion_filters(owner: str | None, state: int) -> list[sa.ColumnElement[bool]]:
    filters: list[sa.ColumnElement[bool]] = []
    if owner is not None:
        filters.append(completions.c.owner == owner)
    if state:
        filters.append(completions.c.state == state)
    return filters
