"""The translate service's tables and their rows as plain records (the store's vocabulary).

A history row is what its owner can read back, list and delete; a usage row is kept for every
text translated or attempted, history or not, so stats keep counting what the history lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from voka.wellknown import utc

metadata = sa.MetaData()

# Mirror migrations/versions/0001_translate_history.py; the migration is what creates them.
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


@dataclass
class TranslationRecord:
    """One row of `translate_translations`: an entry of its owner's history. (Not frozen: a
    frozen dataclass costs microseconds more to build, and one is built per translation.)"""

    id: str
    owner: str
    source_text: str
    translated_text: str
    source_language_code: str
    detected_language_code: str | None
    detected_confidence: float | None
    target_language_code: str
    engine: int
    legs: list[dict[str, Any]]  # each leg's languages, engine and model, as stored (JSON)
    character_count: int
    cached: bool
    latency_ms: float
    origin: int
    create_time: datetime

    @property
    def name(self) -> str:
        return f"translations/{self.id}"

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> TranslationRecord:
        values = dict(row._mapping)
        values["create_time"] = utc(values["create_time"])  # SQLite hands it back naive
        return cls(**values)


@dataclass
class UsageRecord:
    """One row of `translate_usage`: a text translated or attempted (`failed`); not frozen,
    like TranslationRecord."""

    owner: str
    source_language_code: str
    target_language_code: str
    engine: int
    character_count: int
    cached: bool
    failed: bool
    latency_ms: float
    create_time: datetime


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


# Totals, and figures per (source, target, engine).
Stats = tuple[Figures, dict[tuple[str, str, int], Figures]]
