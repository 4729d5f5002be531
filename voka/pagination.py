"""Opaque page tokens (AIP-158) for every list RPC of the mesh.

Two kinds of list:
* keyset pages over a table: the token holds the last row's sort value and id, so the next page
  starts strictly after it; rows created or deleted between calls never shift the pages (no
  duplicates, no gaps) and a page costs an index range scan, not an ever-growing OFFSET. `Order`
  describes any sort; `keyset_token`/`keyset_cursor` are the common newest-first (time, id) case;
* offset pages over a small in-memory catalogue (voices, models).

Every token carries a fingerprint of the filters (and order) it was made for, so it only
continues the query it came from.
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
_GARBAGE = "is not a page token of this service"


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


def page_size(
    value: int,
    path: str = "page_size",
    *,
    default: int = DEFAULT_PAGE_SIZE,
    maximum: int = MAX_PAGE_SIZE,
) -> tuple[int, list[FieldViolation]]:
    """0 means the default; more than the maximum is clamped, as AIP-158 allows. A call whose
    pages cost more per item (ranked search results) passes smaller bounds."""
    if value < 0:
        return 0, [FieldViolation(path, "must not be negative")]
    return min(value or default, maximum), []


def fingerprint(*parts: Any) -> str:
    """Short digest of a query's filters and order: a token only continues the same query."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --- keyset pages ---------------------------------------------------------------------------


def next_token(order: Order[R], query: str, listing: Listing[R]) -> str:
    """The token of the page after `listing`, or "" when it was the last."""
    if not listing.more or not listing.items:
        return ""
    last = listing.items[-1]
    return _cursor_token(query, order.value(last), last.id)


def decode_token(
    token: str, order: Order[Any] | None, query: str, path: str = "page_token"
) -> tuple[Cursor | None, list[FieldViolation]]:
    """The cursor in `token` ("" → first page), refused when it is garbage or was made for
    other filters or another order (AIP-158: the token is tied to the request). Without a
    valid `order` (already reported), only the token's shape is checked."""
    if not token:
        return None, []
    payload = _payload(token)
    if payload is None or not {"v", "i"} <= payload.keys() or not isinstance(payload["i"], str):
        return None, [FieldViolation(path, _GARBAGE)]
    if order is None:
        return None, []
    if payload["f"] != query:
        return None, [FieldViolation(path, "was made for other filters or another order_by")]
    try:
        return Cursor(_decode_value(payload["v"], order.kind), payload["i"]), []
    except (ValueError, TypeError):
        return None, [FieldViolation(path, _GARBAGE)]


def keyset_token(query: str, time: datetime, last_id: str) -> str:
    """The token of the page after a row created at `time` with id `last_id` (newest first)."""
    return _cursor_token(query, time, last_id)


def keyset_cursor(
    token: str, query: str, path: str = "page_token"
) -> tuple[tuple[datetime, str] | None, list[FieldViolation]]:
    """The (time, id) a keyset token continues after; "" is the first page."""
    if not token:
        return None, []
    payload = _payload(token)
    if payload is None or not isinstance(payload.get("i"), str):
        return None, [FieldViolation(path, _GARBAGE)]
    if payload["f"] != query:
        return None, [FieldViolation(path, "was made for other filters")]
    try:
        return (datetime.fromisoformat(payload["v"]), payload["i"]), []
    except (KeyError, TypeError, ValueError):
        return None, [FieldViolation(path, _GARBAGE)]


# --- offset pages ---------------------------------------------------------------------------


def offset_token(query: str, offset: int) -> str:
    return _token({"f": query, "o": offset})


def offset_of(token: str, query: str, path: str = "page_token") -> tuple[int, list[FieldViolation]]:
    """Where an offset token continues; "" is 0."""
    if not token:
        return 0, []
    payload = _payload(token)
    if payload is None:
        return 0, [FieldViolation(path, _GARBAGE)]
    if payload["f"] != query:
        return 0, [FieldViolation(path, "was made for other filters")]
    offset = payload.get("o")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        return 0, [FieldViolation(path, _GARBAGE)]
    return offset, []


# --- encoding -------------------------------------------------------------------------------


def _cursor_token(query: str, value: Value, last_id: str) -> str:
    encoded = value.isoformat() if isinstance(value, date) else value  # datetime too
    return _token({"f": query, "v": encoded, "i": last_id})


def _token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _payload(token: str) -> dict[str, Any] | None:
    """The token's content when it is one of ours (a dict naming its query), else None."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError):
        return None
    return payload if isinstance(payload, dict) and "f" in payload else None


def _decode_value(raw: Any, kind: Kind) -> Value:
    if kind == "int" and isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if kind != "int" and isinstance(raw, str):
        if kind == "datetime":
            return datetime.fromisoformat(raw)
        return date.fromisoformat(raw) if kind == "date" else raw
    raise TypeError(f"sort value {raw!r} is not a {kind}")
