"""A prepared bulk write stores exactly what SQLAlchemy's own executemany stores, including
values shared by several rows (converted once) and ones that differ."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from services.tasks.prepared import Prepared

metadata = sa.MetaData()
things = sa.Table(
    "things", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True)),
    sa.Column("flag", sa.Boolean, nullable=False),
    sa.Column("note", sa.String, nullable=True),
)  # fmt: skip


def test_prepared_rows_store_what_sqlalchemy_stores():
    shared = datetime(2026, 12, 3, 10, 0, 0, 123456, tzinfo=UTC)
    rows = [
        {"id": 1, "at": shared, "flag": True, "note": "a"},
        {"id": 2, "at": shared, "flag": False, "note": None},
        {"id": 3, "at": shared + timedelta(seconds=1), "flag": True, "note": "c"},
        {"id": 4, "at": None, "flag": False, "note": "d"},
    ]
    stored = []
    for write in ("sqlalchemy", "prepared"):
        engine = sa.create_engine("sqlite://")
        metadata.create_all(engine)
        with engine.begin() as connection:
            if write == "prepared":
                changed = Prepared(sa.insert(things), ["id", "at", "flag", "note"]).executemany(
                    connection, rows
                )
                assert changed == len(rows)
            else:
                connection.execute(sa.insert(things), rows)
            raw = "SELECT id, at, flag, note FROM things ORDER BY id"
            stored.append(connection.exec_driver_sql(raw).all())
        engine.dispose()
    assert stored[0] == stored[1]
    assert stored[1][0][1] == stored[1][1][1] != stored[1][2][1]
