"""Keyset pagination with opaque page tokens.

A token holds the sort key and id of the last row served, plus a fingerprint of the filters and
order it was made for. The next page starts strictly after that key, so rows created or deleted
between calls never shift the pages (no duplicates, no gaps), and a page costs an index range
scan instead of an ever-growing OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, Literal, Protocol, TypeVar

import sqlalchemy as sa

from voka.errors import FieldViolation

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


class Identified(Protocol):
    """A record with a unique id: the tie-breaker of every order."""

    @property
    def id(self) -> str: ...


R = TypeVar("R", bound=Identified)
Value = str | int | date | datetime
Kind = Literal["str", "int", "date", "datetime"]


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last row's sort value and id (the tie-breaker)."""

    value: Value
    id: str


@dataclass(frozen=True)
class Page:
    """One page asked for: how many rows, after which cursor (None: from the start)."""

    size: int
    cursor: Cursor | None = None


@dataclass(frozen=True)
class Listing(Generic[R]):
    """A page of rows, whether more follow, and how many match in all."""

    items: list[R]
    more: bool
    total: int


@dataclass(frozen=True)
class Order(Generic[R]):
    """One `order_by` choice: a sort expression, always tie-broken by id in the same direction,
    and how to read the sort value back from a record for the next token."""

    expression: sa.ColumnElement[Any]
    id_column: sa.ColumnElement[Any]
    descending: bool
    kind: Kind
    value: Callable[[R], Value]

    def clauses(self) -> list[sa.ColumnElement[Any]]:
        if self.descending:
            return [self.expression.desc(), self.id_column.desc()]
        return [self.expression.asc(), self.id_column.asc()]

    def after(self, cursor: Cursor) -> sa.ColumnElement[bool]:
        """Rows strictly after `cursor` in this order."""
        if self.descending:
            beyond = self.expression < cursor.value
            tie = self.id_column < cursor.id
        else:
            beyond = self.expression > cursor.value
            tie = self.id_column > cursor.id
        return sa.or_(beyond, sa.and_(self.expression == cursor.value, tie))


def page_size(value: int, path: str = "page_size") -> tuple[int, list[FieldViolation]]:
    """0 means the default; more than the maximum is clamped, as AIP-158 allows."""
    if value < 0:
        return 0, [FieldViolation(path, "must not be negative")]
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE), []


def fingerprint(*parts: Any) -> str:
    """Short digest of a query's filters and order: a token only continues the same query."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def next_token(order: Order[R], query: str, listing: Listing[R]) -> str:
    """The token of the page after `listing`, or "" when it was the last."""
    if not listing.more or not listing.items:
        return ""
    last = listing.items[-1]
    payload = {"f": query, "v": _encode(order.value(last)), "i": last.id}
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode_token(
    token: str, order: Order[Any] | None, query: str, path: str = "page_token"
) -> tuple[Cursor | None, list[FieldViolation]]:
    """The cursor in `token` ("" → first page), refused when it is garbage or was made for
    other filters or another order (AIP-158: the token is tied to the request). Without a
    valid `order` (already reported), only the token's shape is checked."""
    if not token:
        return None, []
    garbage = [FieldViolation(path, "is not a page token of this service")]
    payload = _payload(token)
    if payload is None:
        return None, garbage
    if order is None:
        return None, []
    if payload["f"] != query:
        return None, [FieldViolation(path, "was made for other filters or another order_by")]
    try:
        return Cursor(_decode(payload["v"], order.kind), payload["i"]), []
    except (ValueError, TypeError):
        return None, garbage


def _payload(token: str) -> dict[str, Any] | None:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        return None
    shaped = isinstance(payload, dict) and {"f", "v", "i"} <= payload.keys()
    return payload if shaped and isinstance(payload["i"], str) else None


def _encode(value: Value) -> str | int:
    if isinstance(value, date):  # datetime too
        return value.isoformat()
    return value


def _decode(raw: Any, kind: Kind) -> Value:
    if kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind != "int" and isinstance(raw, str):
        if kind == "datetime":
            return datetime.fromisoformat(raw)
        return date.fromisoformat(raw) if kind == "date" else raw
    raise TypeError(f"sort value {raw!r} is not a {kind}")
