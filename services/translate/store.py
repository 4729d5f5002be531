"""Each owner's translation history and the usage rows behind the stats, through the
service's session factory.

History, usage and the events of a batch of translations are written in one transaction (the
events to the kit's outbox), so a retried write never leaves half of it behind. History pages
are keyset pages, newest first: rows written or deleted between two pages never shift them, and
a page is an index range scan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from sqlalchemy import Connection

from services.translate.records import (
    Figures,
    Stats,
    TranslationRecord,
    UsageRecord,
    translations,
    usage,
)
from voka import db, pagination
from voka.outbox import Outbox
from voka.transactions import Transactions

NEWEST_FIRST: pagination.Order[TranslationRecord] = pagination.Order(
    expression=translations.c.create_time,
    id_column=translations.c.id,
    descending=True,
    kind="datetime",
    value=lambda record: record.create_time,
)


@dataclass(frozen=True)
class Filter:
    """Which rows: `owner` None means everyone's; times are [start, end)."""

    owner: str | None
    source: str = ""
    target: str = ""
    start: datetime | None = None
    end: datetime | None = None

    def where(self, table: sa.Table) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.owner is not None:
            clauses.append(table.c.owner == self.owner)
        if self.source:
            clauses.append(table.c.source_language_code == self.source)
        if self.target:
            clauses.append(table.c.target_language_code == self.target)
        if self.start is not None:
            clauses.append(table.c.create_time >= self.start)
        if self.end is not None:
            clauses.append(table.c.create_time < self.end)
        return clauses


class TranslationStore:
    """The history and usage tables; the events go to `outbox` (none without NATS). The
    recorder's batches go through the service's `transactions` (the kit's), the rarer
    reads and deletes through async sessions on the same engine."""

    def __init__(self, transactions: Transactions, outbox: Outbox | None = None) -> None:
        self._sessions = db.session_factory(transactions.engine)
        self._transactions = transactions
        self._outbox = outbox

    async def add(
        self,
        history: Sequence[TranslationRecord],
        usages: Sequence[UsageRecord],
        events: Sequence[tuple[Message, otel_context.Context]] = (),
    ) -> None:
        """All in one transaction (one executemany per table), each event with the trace of
        the call that caused it. One transaction of the service's `Transactions`: on SQLite one
        thread hop for it all, where an async session's statements hop one by one (a cached
        translation at one call in flight spent most of its CPU on those hops)."""
        rows = self._outbox.rows_of(events) if self._outbox is not None else []

        def write(connection: Connection) -> None:
            if history:
                connection.execute(sa.insert(translations), [vars(r) for r in history])
            if usages:
                connection.execute(sa.insert(usage), [vars(r) for r in usages])
            Outbox.write_rows(connection, rows)

        await self._transactions.write(write)
        if rows and self._outbox is not None:
            self._outbox.wake()

    async def get(self, translation_id: str) -> TranslationRecord | None:
        query = sa.select(translations).where(translations.c.id == translation_id)
        async with self._sessions() as session:
            row = (await session.execute(query)).first()
        return None if row is None else TranslationRecord.from_row(row)

    async def page(
        self, where: Filter, page: pagination.Page
    ) -> pagination.Listing[TranslationRecord]:
        """One page newest first, after `page.cursor`, and the count of all matching rows."""
        clauses = where.where(translations)
        query = sa.select(translations).where(*clauses).order_by(*NEWEST_FIRST.clauses())
        if page.cursor is not None:
            query = query.where(NEWEST_FIRST.after(page.cursor))
        count = sa.select(sa.func.count()).select_from(translations).where(*clauses)
        async with self._sessions() as session:
            rows = (await session.execute(query.limit(page.size + 1))).all()
            total = await session.scalar(count)
        return pagination.Listing(
            [TranslationRecord.from_row(r) for r in rows[: page.size]],
            more=len(rows) > page.size,
            total=int(total or 0),
        )

    async def delete(self, translation_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                sa.delete(translations).where(translations.c.id == translation_id)
            )

    async def purge(self, where: Filter, validate_only: bool) -> int:
        """Delete the matching history (or only count it); usage rows stay."""
        clauses = where.where(translations)
        async with self._sessions.begin() as session:
            if validate_only:
                count = await session.scalar(
                    sa.select(sa.func.count()).select_from(translations).where(*clauses)
                )
                return int(count or 0)
            result = await session.execute(sa.delete(translations).where(*clauses))
        return _rowcount(result)

    async def erase_owner(self, owner: str) -> int:
        """Everything kept for `owner`: its history and its usage rows (global stats lose
        them)."""
        removed = 0
        async with self._sessions.begin() as session:
            for table in (translations, usage):
                result = await session.execute(sa.delete(table).where(table.c.owner == owner))
                removed += _rowcount(result)
        return removed

    async def stats(self, where: Filter) -> Stats:
        """Totals and figures per (source, target, engine). Percentiles need the latencies, so
        rows are read in the window; a rollup table is the next step when windows grow large."""
        query = sa.select(
            usage.c.source_language_code,
            usage.c.target_language_code,
            usage.c.engine,
            usage.c.character_count,
            usage.c.cached,
            usage.c.failed,
            usage.c.latency_ms,
            usage.c.create_time,
        ).where(*where.where(usage))
        total = Figures()
        groups: dict[tuple[str, str, int], Figures] = {}
        async with self._sessions() as session:
            for row in await session.execute(query):
                total.add(row)
                key = (row.source_language_code, row.target_language_code, row.engine)
                groups.setdefault(key, Figures()).add(row)
        return total, groups


def _rowcount(result: Any) -> int:
    return int(result.rowcount)
