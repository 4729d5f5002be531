"""Transactions as one synchronous function of a SQLAlchemy `Connection` each, run in one go:
for a service's hot writes (the task store, translate's history, the outbox relay's rounds),
where a transaction's statements are few and small and their hops would cost more than the
statements. The kit's server makes one per service database (`Resources.transactions`), so
on SQLite the relay and the stores that use it write from one thread, taking turns.

* **SQLite:** in one dedicated thread with the synchronous driver, reads and writes alike, so
  a transaction costs one thread hop (aiosqlite costs one per statement, begin and commit
  included, and on a busy machine every hop waits for a core). One thread also means this
  process's writers take turns instead of sleeping in SQLite's busy handler. The thread keeps
  one connection for its life: the pool's checkout and return (with its reset) cost more than
  a small transaction's statements, and nobody else could use a second connection anyway.
* **PostgreSQL:** through the async engine (`AsyncConnection.run_sync`): psycopg's sockets
  live on the event loop already.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from voka import db

R = TypeVar("R")
Work = Callable[[Connection], R]


class Transactions:
    """`await write(fn)` / `await read(fn)`: `fn(connection)` inside one transaction. `name`
    names the SQLite thread (`<name>-sqlite`). No rerun of a transaction that lost a race
    (`db.write` has one): on SQLite the writers that use it (the outbox relay among them) take
    turns in the thread, so only a writer through the service's async sessions makes a
    transaction wait, in SQLite's busy handler; on PostgreSQL `fn` must not read-modify-write
    without a lock."""

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self.engine = engine
        self._sync: Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sync = db.create_sqlite_sync_engine(engine.url)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"{name}-sqlite")
        self._connection: Connection | None = None  # the thread's own, opened there
        # Writes this process has finished: a figure read at generation g is still what this
        # process's writes left while the generation is g (a cached count stays true until then).
        self.generation = 0

    async def write(self, work: Work[R]) -> R:
        try:
            if self._thread is not None:
                return await self._in_thread(work)
            async with self.engine.begin() as connection:
                return await connection.run_sync(work)
        finally:
            self.generation += 1

    async def read(self, work: Work[R]) -> R:
        """On SQLite reads take turns with the writes in the same thread too (one hop each;
        a read is short and WAL keeps it consistent); on PostgreSQL they run beside them."""
        if self._thread is not None:
            return await self._in_thread(work)
        async with self.engine.connect() as connection:
            return await connection.run_sync(work)

    async def _in_thread(self, work: Work[R]) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    def _run(self, work: Work[R]) -> R:
        assert self._sync is not None
        if self._connection is None or self._connection.invalidated:
            self._disconnect()
            self._connection = self._sync.connect()
        with self._connection.begin():
            return work(self._connection)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def aclose(self) -> None:
        """`close`, off the event loop: it waits for the thread's last transactions."""
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        if self._thread is not None:
            with contextlib.suppress(RuntimeError):  # closed before
                self._thread.submit(self._disconnect)
            self._thread.shutdown(wait=True)
        if self._sync is not None:
            self._sync.dispose()
