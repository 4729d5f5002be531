"""A consistent copy of a service's database, taken while the service runs (`python -m
tools.backup`; restoring: docs/operations.md).

* SQLite: the online backup API copies every page inside one read transaction. In WAL mode the
  service keeps writing meanwhile, and the copy is the database as of one commit — copying the
  file (and its -wal) by hand is not.
* PostgreSQL: `pg_dump --format=custom`, which reads in one repeatable-read snapshot; restore with
  `pg_restore`. The client comes from the system (Debian: postgresql-client), not from pip.

A copy is written under a temporary name and renamed when complete, so a file named like a
backup is always a whole one.

`Shelf` is the same copy taken by the running service itself (OpsService CreateBackup,
voka/mesh_ops.py): one at a time, in a thread so the event loop keeps serving, the newest few
kept.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

PG_DUMP_INSTALL = (
    "pg_dump not found on PATH: install the PostgreSQL client tools of the server's major "
    "version or newer (Debian/Ubuntu: apt-get install postgresql-client)"
)


class BackupError(Exception):
    """A backup that could not be taken; the message says why and what to do."""


class BackupRunning(BackupError):
    """A backup of the database is being taken already."""


@dataclass(frozen=True)
class BackupFile:
    """One complete backup on disk."""

    path: Path
    size_bytes: int
    create_time: datetime


class Shelf:
    """A service's backups in one directory: taken one at a time, the newest `keep` kept.

    One at a time because two copies of the same database at once double the load for nothing;
    a cap because each replica writes to its own volume and an unattended CronJob would fill it.
    """

    def __init__(
        self,
        database_url: str,
        out_dir: Path,
        name: str,
        keep: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._database_url = database_url
        self._out_dir = out_dir
        self._name = name
        self._keep = keep
        self._clock = clock
        self._lock = asyncio.Lock()
        self._pattern = re.compile(rf"{re.escape(name)}-\d{{8}}T\d{{6}}Z\.(db|dump)")

    async def take(self) -> BackupFile:
        """A new backup, the oldest beyond `keep` deleted; `BackupRunning` while one runs."""
        if self._lock.locked():
            raise BackupRunning(f"a backup of {self._name} is running; try again when it is done")
        async with self._lock:
            path = await asyncio.to_thread(
                backup, self._database_url, self._out_dir, self._name, self._clock()
            )
            for old in self.files()[self._keep :]:
                old.path.unlink(missing_ok=True)
        return _describe(path)

    def files(self) -> list[BackupFile]:
        """The complete backups, newest first (their names sort by time)."""
        if not self._out_dir.is_dir():
            return []
        paths = (p for p in self._out_dir.iterdir() if self._pattern.fullmatch(p.name))
        found = []
        for path in sorted(paths, key=lambda p: p.name, reverse=True):
            with suppress(FileNotFoundError):  # pruned by a backup finishing meanwhile
                found.append(_describe(path))
        return found


def _describe(path: Path) -> BackupFile:
    stat = path.stat()
    return BackupFile(path, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))


def backup(database_url: str, out_dir: Path, name: str, now: datetime | None = None) -> Path:
    """Copy the database at `database_url` to `out_dir/<name>-<UTC time>.<db|dump>`."""
    url = make_url(database_url)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _finish(out_dir / f"{name}-{stamp}.db", lambda p: _sqlite(_sqlite_path(url), p))
    if backend == "postgresql":
        return _finish(out_dir / f"{name}-{stamp}.dump", lambda p: _postgres(url, p))
    raise BackupError(f"cannot back up {backend} databases (SQLite and PostgreSQL only)")


def _finish(target: Path, write: Callable[[Path], None]) -> Path:
    """Run `write(partial)`, then give the complete file its name; never overwrite one."""
    if target.exists():
        raise BackupError(f"{target} exists already")
    partial = target.with_name(target.name + ".partial")
    try:
        write(partial)
        partial.rename(target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    path = Path(url.database)
    if not path.is_file():
        raise BackupError(f"{path}: no such database (is VOKA_DATA_DIR right?)")
    return path


def _sqlite(source: Path, target: Path) -> None:
    with (
        closing(sqlite3.connect(source, timeout=30)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)  # all pages in one step: one snapshot of the source
        (verdict,) = dst.execute("PRAGMA quick_check").fetchone()
    if verdict != "ok":
        raise BackupError(f"the copy of {source} fails its check: {verdict}")


def _postgres(url: URL, target: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError(PG_DUMP_INSTALL)
    # The password goes through the environment, never the command line others can read.
    libpq = url.set(drivername="postgresql", password=None).render_as_string()
    env = {**os.environ, **({"PGPASSWORD": str(url.password)} if url.password else {})}
    done = subprocess.run(
        [pg_dump, "--format=custom", f"--file={target}", f"--dbname={libpq}"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip()}")
