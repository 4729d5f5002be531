"""The profile and feedback tables. A profile row exists once something was learned or set; no
row reads as the neutral profile with memory on. Feedback is kept per rated reply, so rating a
reply again replaces its earlier rating instead of counting twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import sqlalchemy as sa

from services.assistant.records import metadata
from voka.assistant.v1 import assistant_pb2
from voka.wellknown import utc

profiles = sa.Table(
    "assistant_profiles",
    metadata,
    sa.Column("owner", sa.String(200), primary_key=True),
    sa.Column("technical", sa.Float()),  # NULL: no balance learned
    sa.Column("emotional", sa.Float()),
    sa.Column("tone", sa.Integer(), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("verbosity", sa.Integer(), nullable=False),
    sa.Column("memory_enabled", sa.Boolean(), nullable=False),
    sa.Column("positive_feedback", sa.Integer(), nullable=False),
    sa.Column("negative_feedback", sa.Integer(), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True)),
)

feedback = sa.Table(
    "assistant_feedback",
    metadata,
    sa.Column("message", sa.String(120), primary_key=True),  # conversations/…/messages/…
    sa.Column("owner", sa.String(200), nullable=False, index=True),
    sa.Column("rating", sa.Integer(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)

Tone: TypeAlias = assistant_pb2.Tone.ValueType
Verbosity: TypeAlias = assistant_pb2.Verbosity.ValueType
Rating: TypeAlias = assistant_pb2.FeedbackRating.ValueType


@dataclass(frozen=True)
class ProfileRecord:
    """One row of `assistant_profiles`; `neutral` is what a user without a row has."""

    owner: str
    technical: float | None = None
    emotional: float | None = None
    tone: Tone = assistant_pb2.TONE_UNSPECIFIED
    language: str = ""
    verbosity: Verbosity = assistant_pb2.VERBOSITY_UNSPECIFIED
    memory_enabled: bool = True
    positive_feedback: int = 0
    negative_feedback: int = 0
    update_time: datetime | None = None

    @classmethod
    def from_row(cls, row: Any) -> ProfileRecord:
        values = dict(row._mapping)
        values["update_time"] = values["update_time"] and utc(values["update_time"])
        return cls(**values)


@dataclass(frozen=True)
class FeedbackRecord:
    """One rating of one reply."""

    message: str
    owner: str
    rating: Rating
    reason: str
    create_time: datetime
