"""voka.pagination: page tokens bound to their query, keyset pages over a real table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from voka import pagination
from voka.errors import FieldViolation
from voka.pagination import Cursor, Listing, Order


@dataclass(frozen=True)
class Row:
    id: str
    created: datetime


metadata = sa.MetaData()
rows = sa.Table(
    "kit_page_rows",
    metadata,
    sa.Column("id", sa.String(8), primary_key=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
)
NEWEST_FIRST: Order[Row] = Order(rows.c.created, rows.c.id, True, "datetime", lambda r: r.created)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_page_size_defaults_clamps_and_refuses_negatives() -> None:
    assert pagination.page_size(0) == (pagination.DEFAULT_PAGE_SIZE, [])
    assert pagination.page_size(10_000) == (pagination.MAX_PAGE_SIZE, [])
    assert pagination.page_size(7, maximum=5) == (5, [])
    assert pagination.page_size(-1)[1] == [FieldViolation("page_size", "must not be negative")]


def test_a_token_continues_only_the_query_it_came_from() -> None:
    query = pagination.fingerprint({"owner": "users/a", "state": 1})
    other = pagination.fingerprint({"owner": "users/a", "state": 2})
    assert query != other
    assert query == pagination.fingerprint({"state": 1, "owner": "users/a"})  # order-free
    listing = Listing([Row("b", T0)], more=True, total=2)
    token = pagination.next_token(NEWEST_FIRST, query, listing)
    assert pagination.decode_token(token, NEWEST_FIRST, query) == (Cursor(T0, "b"), [])
    _, refused = pagination.decode_token(token, NEWEST_FIRST, other)
    assert [v.field for v in refused] == ["page_token"]
    assert "other filters" in refused[0].description
    assert pagination.next_token(NEWEST_FIRST, query, Listing([], more=False, total=0)) == ""


@pytest.mark.parametrize("garbage", ["nope", "12", "eyJ4IjogMX0="])  # the last is {"x": 1}
def test_garbage_and_old_offset_tokens_are_refused(garbage: str) -> None:
    for decoded in (
        pagination.decode_token(garbage, NEWEST_FIRST, "q")[1],
        pagination.offset_of(garbage, "q")[1],
        pagination.keyset_cursor(garbage, "q")[1],
    ):
        assert [v.field for v in decoded] == ["page_token"]


def test_offset_tokens_round_trip_and_refuse_other_filters() -> None:
    token = pagination.offset_token("q", 40)
    assert pagination.offset_of(token, "q") == (40, [])
    assert pagination.offset_of(token, "other")[1][0].field == "page_token"
    assert pagination.offset_of("", "q") == (0, [])


def test_keyset_pages_neither_repeat_nor_skip_when_rows_arrive_between_pages() -> None:
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            rows.insert(),
            [{"id": f"r{i}", "created": T0 + timedelta(minutes=i // 2)} for i in range(7)],
        )  # fmt: skip  (pairs share a time: the id breaks the tie)

    def page(cursor: Cursor | None) -> list[str]:
        where = [] if cursor is None else [NEWEST_FIRST.after(cursor)]
        statement = sa.select(rows).where(*where).order_by(*NEWEST_FIRST.clauses()).limit(3)
        with engine.connect() as connection:
            return [r.id for r in connection.execute(statement)]

    first = page(None)
    with engine.begin() as connection:  # a newer row arrives: it must not shift the pages
        connection.execute(rows.insert(), {"id": "new", "created": T0 + timedelta(hours=1)})
    seen = list(first)
    cursor = Cursor(T0 + timedelta(minutes=int(first[-1][1:]) // 2), first[-1])
    while batch := page(cursor):
        seen += batch
        cursor = Cursor(T0 + timedelta(minutes=int(batch[-1][1:]) // 2), batch[-1])
    assert seen == ["r6", "r5", "r4", "r3", "r2", "r1", "r0"]
