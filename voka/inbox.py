"""The transactional inbox: remembers which events a consumer has already processed.

JetStream delivers at least once: a consumer that commits its effect and dies before its ack
sees the event again. Claiming the event id in the same transaction as the effect makes the
second delivery a no-op, so the effect happens exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Insert,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

metadata = MetaData()

# Mirrors voka/migrations/versions/0001_voka_inbox.py; the migration is what creates it.
inbox_table = Table(
    "voka_inbox",
    metadata,
    Column("consumer", String(200), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("processed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("consumer", "event_id", name="pk_voka_inbox"),
    Index("ix_voka_inbox_processed_at", "processed_at"),
)


async def claim(session: AsyncSession, consumer: str, event_id: str) -> bool:
    """Record `event_id` as processed by `consumer` in the caller's transaction.

    True: first time, go ahead (the claim commits or rolls back with the effect).
    False: already processed, skip. A concurrent claim of the same id waits on the row lock
    and then gets False, so two replicas never both apply an effect."""
    values = {"consumer": consumer, "event_id": event_id, "processed_at": datetime.now(UTC)}
    statement = _insert_ignoring_duplicates(session).values(**values)
    # RETURNING, not rowcount: psycopg's async cursor reports rowcount -1 here.
    inserted = await session.execute(statement.returning(inbox_table.c.event_id))
    return inserted.first() is not None


def _insert_ignoring_duplicates(session: AsyncSession) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(inbox_table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(inbox_table).on_conflict_do_nothing()
    raise NotImplementedError(f"inbox: unsupported database {dialect!r}")


async def prune(session: AsyncSession, older_than: datetime) -> int:
    """Forget claims processed before `older_than`; returns how many rows went.

    Keep claims longer than JetStream can redeliver (the stream's max age), or an old event
    redelivered after pruning would be applied again."""
    if older_than.tzinfo is None:
        raise ValueError("prune: older_than must be timezone-aware")
    cutoff = older_than.astimezone(UTC)
    result = await session.execute(delete(inbox_table).where(inbox_table.c.processed_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]
