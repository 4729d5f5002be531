"""A prepared bulk write stores exactly what SQLAlchemy's own executemany stores, including
values shared by several rows (converted once) and ones that differ; on SQLite an INSERT goes
in as a few statements of a power of two rows each, within SQLite's variable limit."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from services.tasks.prepared import Prepared, chunks

metadata = sa.MetaData()
things = sa.Table(
    "things", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("note", sa.String, nullable=True),
)  # fmt: skip
SHARED = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
ROWS: list[dict[str, Any]] = [
    {"id": 1, "at": SHARED, "flag": True, "note": "a"},
    {"id": 2, "at": SHARED, "flag": False, "note": None},
    {"id": 3, "at": SHARED + timedelta(seconds=1), "flag": True, "note": "c"},
    {"id": 4, "at": None, "flag": False, "note": "d"},
]
STORED = "SELECT id, at, flag, note FROM things ORDER BY id"
# Only a thing still at its expected note changes, and `b_id` appears twice in the SQL.
MARK = (
    sa.update(things)
    .where(things.c.id == sa.bindparam("b_id"), things.c.note == sa.bindparam("b_was"),
           things.c.flag.is_not(None))
    .values(note=sa.bindparam("b_note"), at=sa.bindparam("b_at"), id=sa.bindparam("b_id"))
)  # fmt: skip
MARKS: list[dict[str, Any]] = [
    {"b_id": 1, "b_was": "a", "b_note": "A", "b_at": SHARED + timedelta(hours=1)},
    {"b_id": 2, "b_was": "stale", "b_note": "B", "b_at": SHARED},  # matches nothing
    {"b_id": 3, "b_was": "c", "b_note": None, "b_at": None},
    {"b_id": 4, "b_was": "d", "b_note": "D", "b_at": SHARED + timedelta(hours=1)},
]


@pytest.fixture(params=[None, 8], ids=["one statement", "chunks"])
def variable_limit(request: pytest.FixtureRequest) -> int | None:
    """None: SQLite's own limit; 8: a limit that splits these rows into several statements."""
    limit: int | None = request.param
    return limit


def _engine(variable_limit: int | None) -> sa.Engine:
    engine = sa.create_engine("sqlite://")

    @event.listens_for(engine, "connect")
    def limit(driver: sqlite3.Connection, _record: Any) -> None:
        if variable_limit is not None:
            driver.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, variable_limit)

    metadata.create_all(engine)
    return engine


def _written(
    variable_limit: int | None, write: str, marks: Sequence[dict[str, Any]]
) -> tuple[Sequence[Any], int, int, int]:
    engine = _engine(variable_limit)
    with engine.begin() as connection:
        statements: list[str] = []
        event.listen(connection, "before_cursor_execute", lambda *a: statements.append(a[2]))
        changed = 0
        if write == "prepared":
            inserted = Prepared(sa.insert(things), ["id", "at", "flag", "note"]).executemany(
                connection, ROWS
            )
            if marks:
                changed = Prepared(MARK).executemany(connection, marks)
        else:
            inserted = connection.execute(sa.insert(things), ROWS).rowcount
            if marks:
                changed = connection.execute(MARK, marks).rowcount
        stored = connection.exec_driver_sql(STORED).all()
    engine.dispose()
    writes = [sql for sql in statements if not sql.startswith("SELECT")]
    return stored, inserted, changed, len(writes)


def test_prepared_rows_store_what_sqlalchemy_stores(variable_limit: int | None) -> None:
    expected, *_ = _written(variable_limit, "sqlalchemy", [])
    stored, inserted, changed, statements = _written(variable_limit, "prepared", [])
    assert stored == expected
    assert stored[0][1] == stored[1][1] != stored[2][1]
    assert (inserted, changed) == (len(ROWS), 0)
    # 4 columns a row: all 4 rows in one statement, or 2 per statement under a limit of 8
    assert statements == (1 if variable_limit is None else 2)


def test_prepared_updates_change_what_sqlalchemy_changes(variable_limit: int | None) -> None:
    expected, _, expected_count, _ = _written(variable_limit, "sqlalchemy", MARKS)
    stored, _, changed, statements = _written(variable_limit, "prepared", MARKS)
    assert stored == expected
    assert [row[3] for row in stored] == ["A", None, None, "D"]
    assert changed == expected_count == 3
    # the INSERT in one statement or two; the UPDATE as one executemany
    assert statements == (1 if variable_limit is None else 2) + 1


def test_an_insert_goes_in_as_statements_of_a_power_of_two_rows():
    """A few SQL texts for rounds of any size, so SQLite's statement cache stays small."""
    assert chunks(500, 256) == [256, 128, 64, 32, 16, 4]
    assert chunks(1000, 256) == [256, 256, 256, 128, 64, 32, 8]
    assert chunks(7, 256) == [4, 2, 1]
    assert chunks(5, 2) == [2, 2, 1]
    assert chunks(3, 1000) == [2, 1]  # at most the largest power of two under the cap
    assert chunks(0, 256) == []
