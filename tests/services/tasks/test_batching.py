"""Group commit's linger: callers arriving one by one share a batch; a large one goes at once."""

from __future__ import annotations

import asyncio
import time

from services.tasks.batching import COMPANY_ROUNDS, GroupCommit


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def apply(self, items: list[int]) -> list[int]:
        self.batches.append(items)
        return [item * 10 for item in items]


async def test_callers_arriving_one_by_one_within_the_linger_share_one_batch() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.apply, linger=0.05)
    # Two callers at once: a batch with company, so the next ones are expected to have some.
    assert await asyncio.gather(commit.submit([8]), commit.submit([9])) == [[80], [90]]

    async def one(item: int, after: float) -> list[int]:
        await asyncio.sleep(after)
        return await commit.submit([item])

    results = await asyncio.gather(*(one(i, i * 0.005) for i in range(5)))
    await commit.close()
    assert results == [[0], [10], [20], [30], [40]]
    assert recorder.batches == [[8, 9], [0, 1, 2, 3, 4]]


async def test_a_lone_caller_does_not_wait_and_lingering_stops_once_company_is_gone() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.apply, linger=5.0)
    started = time.monotonic()
    for item in range(3):  # nobody else about: no batch waits the 5 s
        await commit.submit([item])
    assert time.monotonic() - started < 1.0
    await commit.close()
    commit = GroupCommit(recorder.apply, linger=0.02)
    await asyncio.gather(commit.submit([8]), commit.submit([9]))
    waits = []
    for item in range(COMPANY_ROUNDS + 2):
        started = time.monotonic()
        await commit.submit([item])
        waits.append(time.monotonic() - started >= 0.02)
    await commit.close()
    assert waits == [True] * COMPANY_ROUNDS + [False, False]


async def test_a_batch_of_many_items_does_not_wait() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.apply, linger=5.0, few=64)
    started = time.monotonic()
    assert await commit.submit(list(range(64))) == [i * 10 for i in range(64)]
    assert time.monotonic() - started < 1.0
    await commit.close()


async def test_without_a_linger_each_caller_arriving_alone_is_its_own_batch() -> None:
    recorder = Recorder()
    commit = GroupCommit(recorder.apply)
    for item in range(3):
        await commit.submit([item])
    await commit.close()
    assert recorder.batches == [[0], [1], [2]]
