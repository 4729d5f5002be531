"""The translate service's tables: each owner's history, and one usage row per text translated
or attempted (kept when history is deleted or skipped, so stats keep counting)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from voka.wellknown import utc

metadata = sa.MetaData()

translations = sa.Table(
    "translate_translations",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("source_text", sa.Text(), nullable=False),
    sa.Column("translated_text", sa.Text(), nullable=False),
    sa.Column("source_language_code", sa.String(16), nullable=False),
    sa.Column("detected_language_code", sa.String(16)),
    sa.Column("detected_confidence", sa.Float()),
    sa.Column("target_language_code", sa.String(16), nullable=False),
    sa.Column("engine", sa.Integer(), nullable=False),
    sa.Column("legs", sa.JSON(), nullable=False),
    sa.Column("character_count", sa.Integer(), nullable=False),
    sa.Column("cached", sa.Boolean(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("origin", sa.Integer(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

usage = sa.Table(
    "translate_usage",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("source_language_code", sa.String(16), nullable=False),
    sa.Column("target_language_code", sa.String(16), nullable=False),
    sa.Column("engine", sa.Integer(), nullable=False),
    sa.Column("character_count", sa.Integer(), nullable=False),
    sa.Column("cached", sa.Boolean(), nullable=False),
    sa.Column("failed", sa.Boolean(), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class Filter:
    """Which rows: `owner` None means everyone's; times are [start, end)."""

    owner: str | None
    source: str = ""
    target: str = ""
    start: datetime | None = None
    end: datetime | None = None

    def where(self, table: sa.Table) -> list[Any]:
        clauses: list[Any] = []
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


async def add(
    session: AsyncSession, history: Sequence[dict[str, Any]], usages: Sequence[dict[str, Any]]
) -> None:
    if history:
        await session.execute(sa.insert(translations), list(history))
    if usages:
        await session.execute(sa.insert(usage), list(usages))


async def get(session: AsyncSession, translation_id: str) -> dict[str, Any] | None:
    row = (
        await session.execute(sa.select(translations).where(translations.c.id == translation_id))
    ).first()
    return dict(row._mapping) if row else None


async def page(
    session: AsyncSession, where: Filter, offset: int, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """One page, newest first, and the count of all matching rows."""
    clauses = where.where(translations)
    rows = await session.execute(
        sa.select(translations)
        .where(*clauses)
        .order_by(translations.c.create_time.desc(), translations.c.id.desc())
        .offset(offset)
        .limit(limit)
    )
    total = await session.scalar(
        sa.select(sa.func.count()).select_from(translations).where(*clauses)
    )
    return [dict(r._mapping) for r in rows], int(total or 0)


async def delete(session: AsyncSession, translation_id: str) -> None:
    await session.execute(sa.delete(translations).where(translations.c.id == translation_id))


async def purge(session: AsyncSession, where: Filter, validate_only: bool) -> int:
    clauses = where.where(translations)
    if validate_only:
        count = await session.scalar(
            sa.select(sa.func.count()).select_from(translations).where(*clauses)
        )
        return int(count or 0)
    result = await session.execute(sa.delete(translations).where(*clauses))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def erase_owner(session: AsyncSession, owner: str) -> int:
    """Everything kept for `owner`: its history and its usage rows (global stats lose them)."""
    removed = 0
    for table in (translations, usage):
        result = await session.execute(sa.delete(table).where(table.c.owner == owner))
        removed += int(result.rowcount)  # type: ignore[attr-defined]
    return removed


@dataclass
class Figures:
    """Usage of one (pair, engine) group, or of all groups together."""

    requests: int = 0
    characters: int = 0
    errors: int = 0
    cached: int = 0
    latencies: list[float] = field(default_factory=list)  # ms, successful requests
    last: datetime | None = None
    first: datetime | None = None

    def add(self, row: Any) -> None:
        self.requests += 1
        self.characters += row.character_count
        self.errors += int(row.failed)
        self.cached += int(row.cached)
        if not row.failed:
            self.latencies.append(row.latency_ms)
        when = utc(row.create_time)
        self.last = max(self.last or when, when)
        self.first = min(self.first or when, when)

    @property
    def mean_ms(self) -> float:
        return sum(self.latencies) / len(self.latencies) if self.latencies else 0.0

    @property
    def p95_ms(self) -> float:
        """Nearest-rank 95th percentile."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


async def stats(
    session: AsyncSession, where: Filter
) -> tuple[Figures, dict[tuple[str, str, int], Figures]]:
    """Totals and figures per (source, target, engine). Percentiles need the latencies, so
    rows are read in the window; a rollup table is the next step when windows grow large."""
    rows = await session.execute(
        sa.select(
            usage.c.source_language_code,
            usage.c.target_language_code,
            usage.c.engine,
            usage.c.character_count,
            usage.c.cached,
            usage.c.failed,
            usage.c.latency_ms,
            usage.c.create_time,
        ).where(*where.where(usage))
    )
    total = Figures()
    groups: dict[tuple[str, str, int], Figures] = {}
    for row in rows:
        total.add(row)
        key = (row.source_language_code, row.target_language_code, row.engine)
        groups.setdefault(key, Figures()).add(row)
    return total, groups
