"""voka.db: engines for SQLite and PostgreSQL, Alembic migrations with several branches,
writes that survive concurrency."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tools.processes import free_ports
from voka import db, registry


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def _versions(engine: AsyncEngine, table: str = "alembic_version") -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT version_num FROM {table}"))
        return sorted(r[0] for r in rows)


def test_plain_urls_get_async_drivers():
    assert db.async_url("postgresql://u:p@h:5432/d").drivername == "postgresql+psycopg"
    assert db.async_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert db.async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert db.async_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"
    with pytest.raises(ValueError, match="mysql"):
        db.async_url("mysql://u@h/d")


async def test_sqlite_engine_creates_dir_and_sets_pragmas(tmp_path: Path):
    path = tmp_path / "deep" / "er" / "svc.db"
    engine = db.create_engine(f"sqlite:///{path}")
    try:
        async with engine.connect() as conn:
            pragmas = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
        assert pragmas == ["wal", 1, db.SQLITE_BUSY_TIMEOUT_MS]
        assert path.exists()
    finally:
        await engine.dispose()


async def test_sqlite_ddl_rolls_back_with_its_transaction(tmp_path: Path):
    engine = db.create_engine(f"sqlite:///{tmp_path / 'ddl.db'}")
    try:

        async def create_then_fail() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE t (x INTEGER)"))
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError):
            await create_then_fail()
        assert "t" not in await _tables(engine)
    finally:
        await engine.dispose()


async def test_check_passes_and_fails(database_url: str):
    engine = db.create_engine(database_url)
    try:
        await db.check(engine)
    finally:
        await engine.dispose()
    dead = db.create_engine(f"postgresql://postgres@127.0.0.1:{free_ports(1)[0]}/none")
    try:
        with pytest.raises(Exception, match="connect"):
            await db.check(dead)
    finally:
        await dead.dispose()


async def test_migrate_creates_the_inbox(database_url: str):
    await db.migrate(database_url, "kit-tests")  # from a URL: own engine, disposed
    engine = db.create_engine(database_url)
    try:
        assert {"voka_inbox", "alembic_version"} <= await _tables(engine)
        async with engine.connect() as conn:
            columns = await conn.run_sync(lambda c: inspect(c).get_columns("voka_inbox"))
            key = await conn.run_sync(lambda c: inspect(c).get_pk_constraint("voka_inbox"))
        assert [c["name"] for c in columns] == ["consumer", "event_id", "processed_at"]
        assert key["constrained_columns"] == ["consumer", "event_id"]
        assert await _versions(engine) == ["voka_0002"]
    finally:
        await engine.dispose()


async def test_migrate_twice_is_a_no_op(database_url: str):
    engine = db.create_engine(database_url)
    try:
        await db.migrate(engine, "kit-tests")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO voka_inbox VALUES ('c', 'e', CURRENT_TIMESTAMP)"))
        await db.migrate(engine, "kit-tests")
        assert await _versions(engine) == ["voka_0002"]
        async with engine.connect() as conn:  # data survived: nothing was re-created
            assert (await conn.execute(text("SELECT count(*) FROM voka_inbox"))).scalar() == 1
    finally:
        await engine.dispose()


SERVICE_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "{name}_0001"
down_revision = None
branch_labels = ("{name}",)
depends_on = None


def upgrade():
    op.create_table("{name}_things", sa.Column("id", sa.Integer, primary_key=True))


def downgrade():
    op.drop_table("{name}_things")
"""


def _fake_services(root: Path, monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    """Services with a migration each, declared as a service package declares itself."""
    declared = dict(registry.declarations())
    for number, name in enumerate(names):
        versions = root / name / "migrations" / "versions"
        versions.mkdir(parents=True)
        (versions / f"{name}_0001_things.py").write_text(SERVICE_REVISION.format(name=name))
        declared[name] = registry.Declaration(name, 60000 + number, versions)
    monkeypatch.setattr(registry, "declarations", lambda: declared)


async def test_service_branch_runs_beside_the_kit_branch(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _fake_services(tmp_path / "services", monkeypatch, "alpha")
    engine = db.create_engine(database_url)
    try:
        await db.migrate(engine, "alpha")
        await db.migrate(engine, "alpha")
        assert {"voka_inbox", "alpha_things"} <= await _tables(engine)
        assert await _versions(engine) == ["alpha_0001", "voka_0002"]
    finally:
        await engine.dispose()


async def test_two_services_share_a_database_with_own_version_tables(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _fake_services(tmp_path / "services", monkeypatch, "alpha", "beta")
    engine = db.create_engine(postgres_url)
    try:
        await db.migrate(engine, "alpha", version_table="alpha_version")
        await db.migrate(engine, "beta", version_table="beta_version")
        tables = await _tables(engine)
        assert {"voka_inbox", "alpha_things", "beta_things"} <= tables
        assert "alembic_version" not in tables
        assert await _versions(engine, "alpha_version") == ["alpha_0001", "voka_0002"]
        assert await _versions(engine, "beta_version") == ["beta_0001", "voka_0002"]
    finally:
        await engine.dispose()


# --- concurrent writes (issue 15, item 2) -----------------------------------------------------

WRITERS = 60


async def _counter(url: str) -> AsyncEngine:
    engine = db.create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        await conn.execute(text("INSERT INTO counter VALUES (1, 0), (2, 0)"))
    return engine


async def _count(engine: AsyncEngine, row: int = 1) -> int:
    async with engine.connect() as conn:
        query = text("SELECT n FROM counter WHERE id = :id")
        return int((await conn.execute(query, {"id": row})).scalar_one())


async def _increment(session: AsyncSession, row: int = 1) -> None:
    """Read, then write what was read plus one: a lost update shows in the total."""
    read = text("SELECT n FROM counter WHERE id = :id")
    n = (await session.execute(read, {"id": row})).scalar_one()
    await session.execute(text("UPDATE counter SET n = :n WHERE id = :id"), {"n": n + 1, "id": row})


async def test_sqlite_transactions_that_read_then_write_queue_for_the_lock(sqlite_url: str):
    """A DEFERRED transaction that read first fails at once ("database is locked") when it
    tries to write while another holds the lock; begun explicitly, it queues instead."""
    engine = await _counter(sqlite_url)
    sessions = db.session_factory(engine)

    async def through_the_factory() -> None:
        async with sessions.begin() as session:
            await _increment(session)

    async def through_a_session() -> None:
        async with sessions() as session, session.begin():
            await _increment(session)

    async def through_a_connection() -> None:
        async with engine.connect() as conn:
            await conn.execution_options(**db.WRITE)
            async with conn.begin():
                n = (await conn.execute(text("SELECT n FROM counter WHERE id = 1"))).scalar_one()
                await conn.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})

    kinds = (through_the_factory, through_a_session, through_a_connection)
    try:
        await asyncio.gather(*(kinds[i % 3]() for i in range(WRITERS)))
        assert await _count(engine) == WRITERS  # one at a time: not even a lost update
    finally:
        await engine.dispose()


async def test_sqlite_readers_neither_wait_for_the_writer_nor_hold_it_up(sqlite_url: str):
    """Read concurrency stays: autobegun reads (and explicit ones marked READ_ONLY) stay
    DEFERRED, so they read beside an open write transaction and do not block its commit."""
    engine = await _counter(sqlite_url)
    sessions = db.session_factory(engine)
    try:
        async with sessions.begin() as writer:
            await writer.execute(text("UPDATE counter SET n = 7 WHERE id = 1"))
            started = time.monotonic()
            async with sessions() as reader:  # the writer holds the lock, uncommitted
                assert (await reader.execute(text("SELECT n FROM counter"))).scalar() == 0
            async with sessions(execution_options=db.READ_ONLY) as reader, reader.begin():
                assert (await reader.execute(text("SELECT n FROM counter"))).scalar() == 0
            assert time.monotonic() - started < 1  # not the 5 s busy timeout
        async with sessions() as reader:
            assert (await reader.execute(text("SELECT n FROM counter"))).scalar() == 7
            started = time.monotonic()
            async with sessions.begin() as writer:  # the reader's snapshot stays open
                await writer.execute(text("UPDATE counter SET n = 8 WHERE id = 1"))
            assert time.monotonic() - started < 1
            assert (await reader.execute(text("SELECT n FROM counter"))).scalar() == 7
    finally:
        await engine.dispose()


async def test_write_reruns_a_transaction_that_lost_a_race(database_url: str):
    """Read-modify-write at REPEATABLE READ: on PostgreSQL a concurrent update fails it
    (serialization failure) instead of being lost, and `write` runs it again; SQLite runs
    the writers one at a time."""
    engine = await _counter(database_url)
    sessions = db.session_factory(engine)
    try:
        await asyncio.gather(
            *(
                db.write(sessions, _increment, isolation_level="REPEATABLE READ", attempts=50)
                for _ in range(WRITERS // 3)
            )
        )
        assert await _count(engine) == WRITERS // 3
    finally:
        await engine.dispose()


async def test_write_reruns_the_loser_of_a_deadlock(postgres_url: str):
    engine = await _counter(postgres_url)
    sessions = db.session_factory(engine)
    both_locked = asyncio.Barrier(2)
    runs: list[int] = []

    def crossing(first: int, second: int) -> Callable[[AsyncSession], Awaitable[None]]:
        async def work(session: AsyncSession) -> None:
            runs.append(first)
            await _increment(session, first)  # locks `first`
            if len(runs) <= 2:
                await both_locked.wait()  # each holds one row and wants the other's
            await _increment(session, second)

        return work

    try:
        await asyncio.gather(db.write(sessions, crossing(1, 2)), db.write(sessions, crossing(2, 1)))
        assert (await _count(engine, 1), await _count(engine, 2)) == (2, 2)
        assert len(runs) == 3  # the deadlock's loser ran again
    finally:
        await engine.dispose()


async def test_write_does_not_rerun_other_failures(sqlite_url: str):
    engine = await _counter(sqlite_url)
    runs: list[None] = []

    async def duplicate(session: AsyncSession) -> None:
        runs.append(None)
        await session.execute(text("INSERT INTO counter VALUES (1, 0)"))

    try:
        with pytest.raises(exc.IntegrityError):
            await db.write(db.session_factory(engine), duplicate)
        assert len(runs) == 1
    finally:
        await engine.dispose()


async def test_a_write_cancelled_mid_statement_ends_cancelled_and_leaves_nothing_held(
    database_url: str,
):
    """The caller hangs up (or the process stops) while a long statement runs: the write ends
    with the cancellation itself, not an error of the connection torn down under it (on SQLite
    it used to end in PendingRollbackError), nothing of it is kept, and the next write gets
    the lock at once."""
    engine = await _counter(database_url)
    sessions = db.session_factory(engine)
    running = asyncio.Event()

    async def long_insert(session: AsyncSession) -> None:
        running.set()
        await session.execute(
            text(
                "WITH RECURSIVE r(k) AS (SELECT 3 UNION ALL SELECT k + 1 FROM r WHERE k < 5000000)"
                " INSERT INTO counter SELECT k, 0 FROM r"
            )
        )

    try:
        for _ in range(3):
            running.clear()
            write = asyncio.create_task(db.write(sessions, long_insert))
            await running.wait()
            await asyncio.sleep(0.05)  # into the statement
            write.cancel()
            with pytest.raises(asyncio.CancelledError):
                await write
            started = time.monotonic()
            await asyncio.wait_for(db.write(sessions, _increment), timeout=5)
            assert time.monotonic() - started < 2
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM counter"))).scalar() == 2
        assert await _count(engine) == 3
    finally:
        await engine.dispose()


def test_conflicted_knows_races_from_other_errors():
    def wrapped(cause: Exception) -> exc.DBAPIError:
        return exc.DBAPIError.instance("UPDATE x", {}, cause, Exception)

    snapshot = sqlite3.OperationalError("database is locked")
    snapshot.sqlite_errorcode = 517  # SQLITE_BUSY_SNAPSHOT
    assert db.conflicted(wrapped(snapshot))
    assert db.conflicted(wrapped(sqlite3.OperationalError("database is locked")))
    assert db.conflicted(wrapped(psycopg.errors.SerializationFailure()))
    assert db.conflicted(wrapped(psycopg.errors.DeadlockDetected()))
    assert not db.conflicted(wrapped(psycopg.errors.UniqueViolation()))  # a real conflict
    assert not db.conflicted(wrapped(sqlite3.IntegrityError("UNIQUE constraint failed")))
    assert not db.conflicted(ValueError("database is locked"))
