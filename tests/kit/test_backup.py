"""Database backups (voka/backup.py, `python -m tools.backup`): a live SQLite database in WAL
mode copied while writes go on, and a PostgreSQL database dumped and restored."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tools import backup as cli
from voka.backup import PG_DUMP_INSTALL, BackupError, backup


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
