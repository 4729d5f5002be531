"""voka.snapshots: a kept read answers until a write, its age or its failure says otherwise;
concurrent askers share one read; an engine's commits are counted once they are done."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from voka import db
from voka.snapshots import Commits, Kept, KeptPerKey


class Reads:
    """A read that counts its calls and answers their number, optionally after a pause."""

    def __init__(self, pause: float = 0.0) -> None:
        self.calls = 0
        self.pause = pause
        self.fail = False

    async def __call__(self) -> int:
        self.calls += 1
        await asyncio.sleep(self.pause)
        if self.fail:
            raise RuntimeError("database down")
        return self.calls


async def test_a_kept_read_answers_until_a_write_or_its_age() -> None:
    kept: Kept[int] = Kept(max_age=0.2)
    read = Reads()
    assert [await kept.get(0, read) for _ in range(3)] == [1, 1, 1]
    assert await kept.get(1, read) == 2  # a write finished since the read began
    assert await kept.get(1, read) == 2
    await asyncio.sleep(0.25)
    assert await kept.get(1, read) == 3  # too old


async def test_callers_arriving_during_a_read_share_it_and_one_giving_up_cancels_nothing() -> None:
    kept: Kept[int] = Kept(max_age=5.0)
    read = Reads(pause=0.05)
    impatient = asyncio.create_task(kept.get(0, read))
    await asyncio.sleep(0.01)
    impatient.cancel()
    answers = await asyncio.gather(*(kept.get(0, read) for _ in range(5)))
    assert (answers, read.calls) == ([1] * 5, 1)


async def test_a_failed_read_is_not_kept() -> None:
    kept: Kept[int] = Kept(max_age=5.0)
    read = Reads()
    read.fail = True
    with pytest.raises(RuntimeError, match="database down"):
        await kept.get(0, read)
    read.fail = False
    assert await kept.get(0, read) == 2


async def test_figures_per_key_keep_the_most_recently_asked() -> None:
    per_key: KeptPerKey[str, str] = KeptPerKey(max_age=5.0, capacity=2)
    asked: list[str] = []

    def read(key: str) -> Callable[[], Awaitable[str]]:
        async def run() -> str:
            asked.append(key)
            return key.upper()

        return run

    for key in ("a", "b", "a", "c", "a", "b"):
        assert await per_key.get(key, 0, read(key)) == key.upper()
    # "b" was the least recently asked when "c" came, so it was read again; "a" never was.
    assert asked == ["a", "b", "c", "b"]


async def test_commits_count_finished_transactions_only(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'commits.db'}")
    sessions = db.session_factory(engine)
    try:
        commits = Commits(engine)
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        assert commits.count == 1
        async with sessions() as session:  # a read: rolled back on close
            await session.execute(text("SELECT count(*) FROM t"))
        assert commits.count == 1
        async with sessions() as session, session.begin():
            await session.execute(text("INSERT INTO t VALUES (1)"))
            assert commits.count == 1  # not before the commit is done
        assert commits.count == 2

        async def rolled_back() -> None:
            async with sessions() as session, session.begin():
                await session.execute(text("INSERT INTO t VALUES (2)"))
                raise RuntimeError("rolled back")

        with pytest.raises(RuntimeError):
            await rolled_back()
        assert commits.count == 2
    finally:
        await engine.dispose()
