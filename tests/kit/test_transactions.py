"""The kit's one-go transactions (voka.transactions): on SQLite a writer thread of their own,
which closing ends without holding up the event loop; on PostgreSQL the event loop's own
connections, with nothing to end."""

from __future__ import annotations

import asyncio
import threading
import time

from voka import db
from voka.transactions import Transactions

THREAD = "closing-sqlite_0"


def _threads() -> set[str]:
    return {thread.name for thread in threading.enumerate()}


async def test_closing_ends_the_writer_thread_off_the_event_loop(database_url: str) -> None:
    engine = db.create_engine(database_url)
    transactions = Transactions(engine, "closing")
    assert await transactions.write(lambda c: c.exec_driver_sql("SELECT 1").scalar_one()) == 1
    if engine.dialect.name != "sqlite":
        assert THREAD not in _threads()
        await transactions.aclose()
        await engine.dispose()
        return
    assert THREAD in _threads()
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticking = asyncio.create_task(tick())
    slow = asyncio.ensure_future(transactions.write(lambda _: time.sleep(0.3)))
    await asyncio.sleep(0.01)  # the slow transaction is in the thread
    await transactions.aclose()  # waits for it, while the loop runs on
    ticking.cancel()
    await slow
    assert THREAD not in _threads()
    assert ticks >= 10  # 0.3 s of 10 ms ticks: the loop was not held up
    await engine.dispose()
