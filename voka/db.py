"""Database access for every service: one async engine per process, Alembic migrations at start.

The same code runs on an SQLite file (one machine) and on PostgreSQL (Kubernetes); only the URL
changes. Each service owns one database. Migrations come from two places, run as one upgrade:
the kit's own tables (`voka/migrations/versions`, branch "voka", e.g. the inbox) and the
service's (the folder its declaration names, `voka.registry`; its own branch), sharing one
`env.py`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy import create_engine as _create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from voka import registry

KIT_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_VERSION_TABLE = "alembic_version"
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"voka.db.migrate").digest()[:8], "big", signed=True
)
SQLITE_BUSY_TIMEOUT_MS = 5000  # writers queue this long for SQLite's single write lock

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
    savepoints); PostgreSQL gets psycopg 3 and pre-ping, so a restarted server costs no error."""
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
    # SELECT and DDL; `_sqlite_on_begin` emits it instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "foreign_keys=ON",
        f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
        "synchronous=NORMAL",  # durable with WAL except on power loss; much faster commits
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def _sqlite_on_begin_immediate(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (no lazy reload in async code)."""
    return async_sessionmaker(engine, expire_on_commit=False)


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
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas (or services sharing the database) starting together: one migrates,
            # the others wait, then find the schema up to date. Released with the transaction.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await connection.run_sync(_run_alembic, config)


def _run_alembic(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")
