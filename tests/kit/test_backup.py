"""Database backups (voka/backup.py, `python -m tools.backup`): a live SQLite database in WAL
mode copied while writes go on, and a PostgreSQL database dumped and restored; the shelf a
running service keeps them on (one at a time, the newest kept)."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tools import backup as cli
from voka.backup import PG_DUMP_INSTALL, BackupError, BackupRunning, Shelf, backup


@pytest.fixture
def busy_sqlite(tmp_path: Path) -> Iterator[Path]:
    """A WAL database a thread keeps writing to: each transaction adds a +n and a -n row, so
    any consistent copy has an even number of rows summing to zero."""
    path = tmp_path / "data" / "meetings" / "meetings.db"
    path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)")
        db.commit()
    stop, wrote = threading.Event(), threading.Event()

    def write() -> None:
        with closing(sqlite3.connect(path, timeout=30)) as db:
            n = 0
            while not stop.is_set():
                n += 1
                with db:
                    db.executemany("INSERT INTO ledger (amount) VALUES (?)", [(n,), (-n,)])
                wrote.set()

    writer = threading.Thread(target=write)
    writer.start()
    wrote.wait(10)
    try:
        yield path
    finally:
        stop.set()
        writer.join()


def _ledger(path: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT count(*), coalesce(sum(amount), 0) FROM ledger").fetchone()
    return int(rows[0]), int(rows[1])


def test_sqlite_copy_of_a_live_database_is_consistent(busy_sqlite: Path, tmp_path: Path):
    counts = []
    for second in range(3):
        now = datetime(2030, 1, 1, 0, 0, second, tzinfo=UTC)
        copy = backup(f"sqlite+aiosqlite:///{busy_sqlite}", tmp_path / "out", "meetings", now)
        assert copy.name == f"meetings-20300101T00000{second}Z.db"
        count, total = _ledger(copy)
        assert (count % 2, total) == (0, 0)
        counts.append(count)
    assert 0 < counts[0] <= counts[1] <= counts[2]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"meetings-20300101T00000{s}Z.db" for s in range(3)
    ]  # no partial files left behind


def test_a_backup_never_overwrites_another(busy_sqlite: Path, tmp_path: Path):
    now = datetime(2030, 1, 1, tzinfo=UTC)
    backup(f"sqlite:///{busy_sqlite}", tmp_path / "out", "meetings", now)
    with pytest.raises(BackupError, match="exists already"):
        backup(f"sqlite:///{busy_sqlite}", tmp_path / "out", "meetings", now)


def test_cli_backs_up_the_service_database_from_its_settings(
    busy_sqlite: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
):
    monkeypatch.delenv("VOKA_DATABASE_URL", raising=False)
    monkeypatch.setenv("VOKA_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["--service", "meetings", "--out", str(tmp_path / "out")]) == 0
    copy = Path(capsys.readouterr().out.strip())
    assert copy.parent == tmp_path / "out"
    assert _ledger(copy)[0] > 0


def test_cli_names_a_missing_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.delenv("VOKA_DATABASE_URL", raising=False)
    monkeypatch.setenv("VOKA_DATA_DIR", str(tmp_path / "nothing"))
    assert cli.main(["--service", "tasks", "--out", str(tmp_path / "out")]) == 1
    assert "tasks.db: no such database" in capsys.readouterr().err


def test_missing_pg_dump_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackupError, match="postgresql-client") as err:
        backup("postgresql+psycopg://u:p@127.0.0.1/db", tmp_path, "auth")
    assert str(err.value) == PG_DUMP_INSTALL


def test_postgres_dump_restores_what_was_there(postgres_url: str, tmp_path: Path):
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
        db.execute("INSERT INTO notes (body) VALUES ('first'), ('second')")
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    dump = backup(url, tmp_path, "meetings")
    assert dump.suffix == ".dump"
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("DROP TABLE notes")
    pg_restore = shutil.which("pg_restore")
    assert pg_restore, PG_DUMP_INSTALL
    subprocess.run([pg_restore, f"--dbname={postgres_url}", str(dump)], check=True, timeout=60)
    with psycopg.connect(postgres_url) as db:
        rows = db.execute("SELECT body FROM notes ORDER BY id").fetchall()
    assert rows == [("first",), ("second",)]


def _clock(*seconds: int) -> Callable[[], datetime]:
    """A clock that answers 2030-01-01 00:00:0<s> for each s in turn."""
    times = iter(datetime(2030, 1, 1, 0, 0, s, tzinfo=UTC) for s in seconds)
    return lambda: next(times)


async def test_a_shelf_keeps_the_newest_backups(busy_sqlite: Path, tmp_path: Path):
    url = f"sqlite:///{busy_sqlite}"
    shelf = Shelf(url, tmp_path / "out", "meetings", keep=2, clock=_clock(0, 1, 2))
    assert shelf.files() == []  # no directory yet
    taken = [await shelf.take() for _ in range(3)]
    names = [f.path.name for f in shelf.files()]
    assert names == ["meetings-20300101T000002Z.db", "meetings-20300101T000001Z.db"]
    assert not taken[0].path.exists()  # the oldest went
    (tmp_path / "out" / "notes.txt").write_text("not a backup")
    assert [f.path for f in shelf.files()] == [taken[2].path, taken[1].path]
    assert taken[2].size_bytes == taken[2].path.stat().st_size > 0


async def test_a_shelf_keeps_postgres_dumps_alike(postgres_url: str, tmp_path: Path):
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    shelf = Shelf(url, tmp_path, "meetings", keep=1, clock=_clock(0, 1))
    await shelf.take()
    newest = await shelf.take()
    assert shelf.files() == [newest]
    assert newest.path.name == "meetings-20300101T000001Z.dump"


async def test_a_shelf_takes_one_backup_at_a_time(tmp_path: Path):
    """A second backup while one runs is refused, not queued. The first one waits here on a
    writer's exclusive lock (a rollback-journal database), so it is still running."""
    path = tmp_path / "meetings.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY)")
        db.commit()
    shelf = Shelf(f"sqlite:///{path}", tmp_path / "out", "meetings", keep=3)
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        first = asyncio.create_task(shelf.take())
        await asyncio.sleep(0.3)
        assert not first.done()
        with pytest.raises(BackupRunning, match="running"):
            await shelf.take()
        writer.execute("COMMIT")
        taken = await asyncio.wait_for(first, timeout=10)
    assert shelf.files() == [taken]
