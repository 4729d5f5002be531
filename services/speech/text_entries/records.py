"""The text-entry table and its rows as plain records (the store's vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from services.speech.records import metadata, newest_first, row_values
from services.speech.text_entries.wer import WordErrors
from voka import pagination

# Mirrors migrations/versions/0002_text_entries.py; the migration is what creates it.
text_entries = sa.Table(
    "speech_text_entries",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("original_text", sa.Text(), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("transcript", sa.Text(), nullable=False),
    sa.Column("word_error_rate", sa.Float(), nullable=False),
    sa.Column("reference_words", sa.Integer(), nullable=False),
    sa.Column("substitutions", sa.Integer(), nullable=False),
    sa.Column("deletions", sa.Integer(), nullable=False),
    sa.Column("insertions", sa.Integer(), nullable=False),
    sa.Column("model", sa.String(100), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("audio_seconds", sa.Float(), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class TextEntryRecord:
    """One row of `speech_text_entries`, the word errors gathered into one value."""

    id: str
    owner: str
    original_text: str
    language: str
    transcript: str
    errors: WordErrors
    model: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    audio_seconds: float
    path: str
    create_time: datetime

    @property
    def name(self) -> str:
        return f"text-entries/{self.id}"

    def row(self) -> dict[str, Any]:
        values = {k: v for k, v in self.__dict__.items() if k != "errors"}
        return {**values, **self.errors.__dict__, "word_error_rate": self.errors.rate}

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> TextEntryRecord:
        values = row_values(row)
        del values["word_error_rate"]  # derived from the counts
        counts = {field: values.pop(field) for field in WordErrors.__dataclass_fields__}
        return cls(**values, errors=WordErrors(**counts))


NEWEST_FIRST: pagination.Order[TextEntryRecord] = newest_first(text_entries)
