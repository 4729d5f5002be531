"""Bulk writes of the hot path compiled once and run on SQLite with plain tuples.

SQLAlchemy's executemany handles every row's parameters in Python (a dict per row, each value
looked up, typed and converted), which on SQLite costs more than SQLite's own work for the row
(about 14 µs against 5 µs per submitted task) and runs in the thread that shares the GIL with
the event loop. A `Prepared` statement is compiled once; on SQLite its rows become tuples, and
only values whose type has a bind processor (times, booleans) are converted, by that same
processor: the database holds exactly what SQLAlchemy would have written, with the same SQL in
the same transaction. Other dialects (PostgreSQL, whose driver adapts values itself) run the
statement through SQLAlchemy as before.

An INSERT goes in as a few statements of many rows each (`VALUES (...), (...), ...`; `chunks`
says how many), not as an executemany: pysqlite runs SQLite once per row of an executemany,
letting go of the GIL and taking it back each time, so a stream's 500-task round stood in line
for the GIL 500 times behind the event loop. Statements of many rows cut a round's CPU in the
SQLite thread by about a tenth and its wait for the GIL in the service under a task stream from
3.1 to 2.1-2.8 times that CPU (bench/README.md, "Multi-row INSERTs for a round of submits"). An
UPDATE stays an executemany: as one `UPDATE ... FROM (VALUES ...)` it measured no faster.
"""

from __future__ import annotations

import functools
import operator
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler

Row = Mapping[str, Any]
ROWS_PER_STATEMENT = 256  # an INSERT's rows per statement, at most (see `chunks`)


@dataclass(frozen=True)
class _Compiled:
    """The SQL, and how a row becomes its positional parameters."""

    sql: str
    constants: dict[str, Any]  # binds the statement itself gives a value
    pick: Callable[[Row], tuple[Any, ...]]  # the row's values in the SQL's order
    convert: Sequence[tuple[int, Callable[[Any], Any]]]  # position → bind processor
    rows_sql: Callable[[int], str] | None  # an INSERT's SQL for n rows at once
    width: int  # parameters per row

    def parameters(self, rows: Sequence[Row]) -> list[tuple[Any, ...]]:
        """Every row's parameters. A value that is the very object the previous row had
        there (a batch's one timestamp, its shared create time) is converted once."""
        pick, constants = self.pick, self.constants
        picked = [pick({**constants, **row} if constants else row) for row in rows]
        if not self.convert:
            return picked
        last: dict[int, tuple[Any, Any]] = {}
        converted = []
        for values in picked:
            out = list(values)
            for position, process in self.convert:
                value = out[position]
                if value is not None:
                    seen = last.get(position)
                    if seen is None or seen[0] is not value:
                        seen = last[position] = (value, process(value))
                    out[position] = seen[1]
            converted.append(tuple(out))
        return converted


class Prepared:
    """`executemany(connection, rows)`: one statement for many parameter sets (dicts keyed
    by the statement's bind names or, for an INSERT, by `keys`, its columns)."""

    def __init__(self, statement: sa.Insert | sa.Update, keys: Sequence[str] | None = None) -> None:
        self._statement = statement
        self._keys = list(keys) if keys is not None else None
        self._sqlite: _Compiled | None = None

    def executemany(self, connection: Connection, rows: Sequence[Row]) -> int:
        """Run the statement once per row; returns the rows it changed in all."""
        if connection.dialect.name != "sqlite":
            return connection.execute(self._statement, list(rows)).rowcount
        if self._sqlite is None:
            self._sqlite = self._compile(connection.dialect)
        compiled = self._sqlite
        if compiled.rows_sql is None:
            return connection.exec_driver_sql(compiled.sql, compiled.parameters(rows)).rowcount
        changed, start = 0, 0
        for count in chunks(len(rows), _rows_per_statement(connection, compiled.width)):
            chunk = compiled.parameters(rows[start : start + count])
            flat = tuple(value for values in chunk for value in values)
            changed += connection.exec_driver_sql(compiled.rows_sql(count), flat).rowcount
            start += count
        return changed

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self._statement.compile(dialect=dialect, column_keys=self._keys)
        assert isinstance(compiled, SQLCompiler)
        names = list(compiled.positiontup or ())
        binds = [compiled.binds[name] for name in names]
        processors = [b.type.dialect_impl(dialect).bind_processor(dialect) for b in binds]
        given = zip(names, binds, strict=True)
        constants = {name: bind.effective_value for name, bind in given if not bind.required}
        convert = [(n, process) for n, process in enumerate(processors) if process is not None]
        pick = operator.itemgetter(*names) if len(names) > 1 else _one(names[0])
        sql = str(compiled)
        rows_sql = _many_rows(sql, len(names)) if isinstance(self._statement, sa.Insert) else None
        return _Compiled(sql, constants, pick, convert, rows_sql, len(names))


def _many_rows(sql: str, width: int) -> Callable[[int], str]:
    """A one-row `INSERT ... VALUES (?, ...) ...` as the same statement for n rows."""
    row = f"({', '.join('?' * width)})"
    head, found, tail = sql.partition(f"VALUES {row}")
    if not found:
        raise ValueError(f"not a one-row INSERT: {sql}")

    @functools.cache  # one text per power of two (`chunks`): a handful
    def of(count: int) -> str:
        return f"{head}VALUES {', '.join([row] * count)}{tail}"

    return of


def chunks(rows: int, most: int) -> list[int]:
    """`rows` split into statements of a power of two rows each, none over `most`, largest
    first: 500 rows go as 256 + 128 + 64 + 32 + 16 + 4. pysqlite keeps each distinct SQL text
    prepared in its cache (128 statements), and a prepared 500-row INSERT holds about 1 MB: a
    statement per round size would let rounds of varied sizes fill it with over 100 MB. Powers
    of two bound it to one statement per size up to `most`, about 1 MB in all at 256 rows."""
    largest = 1 << (max(1, most).bit_length() - 1)
    counts, left = [], rows
    while left:
        count = min(largest, 1 << (left.bit_length() - 1))
        counts.append(count)
        left -= count
    return counts


def _rows_per_statement(connection: Connection, width: int) -> int:
    """`ROWS_PER_STATEMENT`, or fewer where SQLite's limit on a statement's parameters (32766
    since 3.32) says so."""
    driver = connection.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
    return max(1, min(ROWS_PER_STATEMENT, limit))


def _one(name: str) -> Callable[[Row], tuple[Any, ...]]:
    """`itemgetter` of one name returns the value, not a tuple."""
    return lambda row: (row[name],)
