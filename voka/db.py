"""Database access for every service: one async engine per process, Alembic migrations at start.

The same code runs on an SQLite file (one machine) and on PostgreSQL (Kubernetes); only the URL
changes. Each service owns one database. Migrations come from two places, run as one upgrade:
the kit's own tables (`voka/migrations/versions`, branch "voka", e.g. the inbox) and the
service's (the folder its declaration names, `voka.registry`; its own branch), sharing one
`env.py`.

Writes must survive concurrency on both: on SQLite the transactions that write take the file's
one write lock when they begin, so they queue for it (the busy timeout) where a read turning
into a write would fail at once; `write` reruns a transaction that lost a race anyway
(PostgreSQL's serialization failures and deadlocks, a lock held past the busy timeout).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import create_engine as _create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import Session, SessionTransaction, SessionTransactionOrigin

from voka import registry

KIT_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_VERSION_TABLE = "alembic_version"
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"voka.db.migrate").digest()[:8], "big", signed=True
)
# Writers queue this long for SQLite's single write lock. Generous: SQLite's busy handler polls
# (it is no fair queue), and 64 concurrent writers on a busy 2-core machine waited over 5 s.
SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_ATTEMPTS = 5  # `write`: runs of a transaction that keeps losing races, in all
WRITE_RETRY_SECONDS = 0.02  # `write`: the first pause before a rerun (then doubling, to 1 s)
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_SQLITE_CONFLICTS = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
R = TypeVar("R")
log = logging.getLogger("voka.db")

_ASYNC_DRIVERS = {
    "postgres": "postgresql+psycopg",
    "postgresql": "postgresql+psycopg",
    "postgresql+psycopg2": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def async_url(url: str | URL) -> URL:
    """The URL with its async driver, so `postgresql://...` from a platform secret just works."""
    parsed = make_url(url)
    driver = _ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise ValueError(f"unsupported database URL scheme {parsed.drivername!r}")
    return parsed.set(drivername=driver)


def create_engine(url: str | URL, **options: Any) -> AsyncEngine:
    """An async engine for `url`. SQLite gets WAL (readers never block the writer), foreign
    keys (off by default in SQLite!), a busy timeout and real BEGINs (transactional DDL,
    savepoints), IMMEDIATE for the transactions that write (see `WRITE` below), so concurrent
    writers queue for the lock instead of failing; PostgreSQL gets psycopg 3 and pre-ping, so
    a restarted server costs no error."""
    parsed = async_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **options)
    return _create_async_engine(parsed, pool_pre_ping=True, **options)


def _sqlite_engine(url: URL, **options: Any) -> AsyncEngine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = _create_async_engine(url, pool_pre_ping=True, **options)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    event.listen(engine.sync_engine, "before_cursor_execute", _sqlite_before_statement)
    event.listen(engine.sync_engine, "commit", _sqlite_on_end)
    event.listen(engine.sync_engine, "rollback", _sqlite_on_end)
    return engine


def create_sqlite_sync_engine(url: str | URL) -> Engine:
    """A synchronous engine on the same SQLite file with the same connection settings, for
    work a service runs in a dedicated thread: one thread hop per transaction, where aiosqlite
    costs one per statement (and each hop waits for a core on a busy machine). Its
    transactions begin IMMEDIATE: they are writes, so they take the write lock up front instead
    of failing when a read turns into a write after another process wrote."""
    parsed = make_url(url).set(drivername="sqlite")
    engine = _create_engine(parsed)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin_immediate)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 driver, which would skip BEGIN before
    # SELECT and DDL; `_sqlite_before_statement` emits it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",  # first: switching a new file to WAL locks it
        "journal_mode=WAL",
        "foreign_keys=ON",
        "synchronous=NORMAL",  # durable with WAL except on power loss; much faster commits
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


# SQLite has one write lock per file. A DEFERRED transaction asks for it at its first write;
# when it has read before, and another connection holds the lock or wrote since that read
# began (its snapshot is stale), SQLite answers SQLITE_BUSY ("database is locked") at once:
# the busy timeout does not apply, since waiting could not help. 60 concurrent requests of one
# user that read then write (auth's CreateApiKey, meetings' UpdateClient) failed that way. So a
# transaction that will write asks for the lock at BEGIN (IMMEDIATE), where the busy timeout
# makes it queue. The BEGIN is emitted lazily, just before the transaction's first statement,
# and is IMMEDIATE when
# * the transaction was begun explicitly: `sessions.begin()`, `session.begin()` (the way every
#   service writes), or its connection has the `WRITE` execution options;
# * or its first statement writes.
# Autobegun transactions that start with a read (`async with sessions() as s: s.execute(...)`)
# stay DEFERRED, as does an explicit one with the `READ_ONLY` execution options: readers
# never wait for the writer (WAL) and run side by side.
SQLITE_BEGIN = "sqlite_begin"  # the execution option naming a transaction's BEGIN on SQLite
WRITE: dict[str, Any] = {SQLITE_BEGIN: "IMMEDIATE"}  # for a connection that reads, then writes
READ_ONLY: dict[str, Any] = {SQLITE_BEGIN: "DEFERRED"}  # for an explicit session that only reads
_PENDING = "voka.sqlite.begin"  # connection.info: this transaction's BEGIN, not yet emitted
_AUTO, _DEFERRED, _IMMEDIATE = "AUTO", "DEFERRED", "IMMEDIATE"
_READS = frozenset({"SELECT", "PRAGMA", "EXPLAIN", "VALUES"})


def _sqlite_on_begin(connection: Connection) -> None:
    mode = str(connection.get_execution_options().get(SQLITE_BEGIN, _AUTO)).upper()
    connection.info[_PENDING] = mode if mode in (_DEFERRED, _IMMEDIATE) else _AUTO


@event.listens_for(Session, "after_begin")
def _explicit_session_begin(
    _session: Session, transaction: SessionTransaction, connection: Connection
) -> None:
    """A session's transaction begun explicitly writes, unless its options say otherwise."""
    if (
        transaction.origin is SessionTransactionOrigin.BEGIN
        and connection.info.get(_PENDING) == _AUTO
    ):
        connection.info[_PENDING] = _IMMEDIATE


def _sqlite_before_statement(
    connection: Connection,
    cursor: Any,
    statement: str,
    _parameters: Any,
    _context: Any,
    _executemany: bool,
) -> None:
    mode = connection.info.pop(_PENDING, None)
    if mode is None:
        return
    if mode == _IMMEDIATE or _writes(statement):
        cursor.execute("BEGIN IMMEDIATE")
    else:
        cursor.execute("BEGIN DEFERRED")


def _writes(statement: str) -> bool:
    """Whether a statement may write (anything but a plain read; a SAVEPOINT too: its
    transaction goes on to write)."""
    words = statement.lstrip(" \n\t(").split(None, 1)
    return not words or words[0].upper() not in _READS


def _sqlite_on_end(connection: Connection) -> None:
    # A transaction that ran no statement emitted no BEGIN: nothing to end in SQLite either
    # (the driver's commit and rollback are no-ops outside a transaction). A connection
    # invalidated under the transaction (a statement cancelled mid-flight: the caller hung up,
    # the process stops) is being closed, its transaction with it, and its `info` cannot be
    # read: the error raised there would replace the caller's cancellation.
    if not connection.invalidated:
        connection.info.pop(_PENDING, None)


def _sqlite_on_begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no lazy reload in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def after_commit(session: AsyncSession, callback: Callable[[Session], None]) -> None:
    """`callback` when `session`'s transaction commits (not if it rolls back): a wake-up for
    whoever acts on what it wrote. Registered once however often asked; SQLAlchemy's asyncio
    runs it in the event loop's thread (in a greenlet), so it may set an `asyncio.Event`."""
    sync = session.sync_session
    if not event.contains(sync, "after_commit", callback):
        event.listen(sync, "after_commit", callback)


def conflicted(error: BaseException) -> bool:
    """Whether `error` says a transaction lost a race with a concurrent one, so that running
    it again from the start can succeed: PostgreSQL's serialization failure and deadlock, and
    SQLite's busy or locked database (the busy timeout ran out: another process held the lock
    too long, or a DEFERRED transaction could not upgrade to a write)."""
    if not isinstance(error, DBAPIError) or error.connection_invalidated:
        return False
    cause = error.orig
    if getattr(cause, "sqlstate", None) in _CONFLICT_SQLSTATES:
        return True
    code = getattr(cause, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in _SQLITE_CONFLICTS  # extended codes: BUSY_SNAPSHOT is BUSY too
    return "database is locked" in str(cause) or "database table is locked" in str(cause)


async def write(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[R]],
    *,
    isolation_level: str | None = None,
    attempts: int = WRITE_ATTEMPTS,
) -> R:
    """`await work(session)` in one write transaction, committed when it returns; a
    transaction that lost a race (`conflicted`) runs again from the start, up to `attempts`
    times in all, after a random pause that doubles with each attempt (up to a second). So
    `work` does only database work: publish and call peers once this returns.

    PostgreSQL runs it at READ COMMITTED unless `isolation_level` says otherwise: a
    read-modify-write that must not lose a concurrent update either locks what it reads
    (`SELECT ... FOR UPDATE`) or runs at "REPEATABLE READ", where the lost update becomes a
    serialization failure that this retries. SQLite runs every write transaction alone."""
    for attempt in range(1, attempts + 1):
        try:
            async with sessions() as session, session.begin():
                if isolation_level is not None and session.get_bind().dialect.name != "sqlite":
                    await session.connection(execution_options={"isolation_level": isolation_level})
                return await work(session)
        except DBAPIError as error:
            if attempt >= attempts or not conflicted(error):
                raise
            log.info("transaction conflicted (attempt %d of %d): %s", attempt, attempts, error.orig)
        jitter = random.uniform(0.5, 1.0)  # noqa: S311 (spreads reruns apart, not a secret)
        await asyncio.sleep(jitter * min(WRITE_RETRY_SECONDS * 2 ** (attempt - 1), 1.0))
    raise AssertionError("unreachable: the last attempt returns or raises")


async def check(engine: AsyncEngine) -> None:
    """Round-trip to the database; raises when it cannot answer. Health checks call this."""
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


def version_locations(service: str) -> list[Path]:
    """The kit's migrations, then the service's when it declares any (a name no service
    declares, such as the kit's own tests', gets the kit's alone)."""
    locations = [KIT_MIGRATIONS / "versions"]
    declared = registry.declarations().get(service)
    if declared is not None and declared.migrations is not None:
        locations.append(declared.migrations)
    return locations


def alembic_config(service: str, version_table: str = DEFAULT_VERSION_TABLE) -> Config:
    """Alembic configuration built in code: no alembic.ini to keep in step per service."""
    config = Config()
    config.set_main_option("script_location", str(KIT_MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option(
        "version_locations", os.pathsep.join(str(p) for p in version_locations(service))
    )
    config.attributes["version_table"] = version_table
    return config


async def migrate(
    engine_or_url: AsyncEngine | str, service: str, *, version_table: str = DEFAULT_VERSION_TABLE
) -> None:
    """Bring the schema to every head (the kit's and the service's branches) in one
    transaction. Safe to run on every start and from several replicas at once."""
    config = alembic_config(service, version_table)
    if isinstance(engine_or_url, AsyncEngine):
        await _upgrade(engine_or_url, config)
        return
    engine = create_engine(engine_or_url)
    try:
        await _upgrade(engine, config)
    finally:
        await engine.dispose()


async def _upgrade(engine: AsyncEngine, config: Config) -> None:
    async with engine.connect() as connection:
        # Alembic reads the version table before it writes: on SQLite, processes starting
        # together (a service and its worker) queue for the write lock instead of failing.
        await connection.execution_options(**WRITE)
        async with connection.begin():
            if connection.dialect.name == "postgresql":
                # Replicas (or services sharing the database) starting together: one migrates,
                # the others wait, then find the schema up to date. Released with the
                # transaction.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
            await connection.run_sync(_run_alembic, config)


def _run_alembic(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")
