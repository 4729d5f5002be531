"""What every table of the service shares: one `MetaData` (the tables reference each other by
name), row ids, and the case-folded columns written with each row, so that search, exact
filters and ordering behave the same on SQLite and PostgreSQL, non-ASCII text included."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()


def new_id() -> str:
    """A row id: 128 random bits in hex (the String(32) primary keys)."""
    return uuid.uuid4().hex


def fold(text: str) -> str:
    """Case-insensitive form of text, for sort keys, exact filters and search."""
    return text.casefold()


def search_text(*fields: str) -> str:
    """One folded haystack per row; newlines keep a word from matching across two fields."""
    return "\n".join(fold(f) for f in fields)


def contains_all(column: sa.ColumnElement[str], words: Sequence[str]) -> list[Any]:
    """One LIKE per (already folded) word, wildcards in the word taken literally."""
    escaped = (w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for w in words)
    return [column.like(f"%{w}%", escape="\\") for w in escaped]
