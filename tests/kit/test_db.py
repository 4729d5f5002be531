"""voka.db: engines for SQLite and PostgreSQL, Alembic migrations with several branches."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

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
        assert await _versions(engine) == ["voka_0001"]
    finally:
        await engine.dispose()


async def test_migrate_twice_is_a_no_op(database_url: str):
    engine = db.create_engine(database_url)
    try:
        await db.migrate(engine, "kit-tests")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO voka_inbox VALUES ('c', 'e', CURRENT_TIMESTAMP)"))
        await db.migrate(engine, "kit-tests")
        assert await _versions(engine) == ["voka_0001"]
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
        assert await _versions(engine) == ["alpha_0001", "voka_0001"]
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
        assert await _versions(engine, "alpha_version") == ["alpha_0001", "voka_0001"]
        assert await _versions(engine, "beta_version") == ["beta_0001", "voka_0001"]
    finally:
        await engine.dispose()
