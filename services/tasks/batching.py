"""Group commit: many concurrent callers, one batched operation.

Callers hand items in and wait; one loop takes everything waiting (up to `limit` items), runs
the batch operation once, and answers every caller of that batch with its own share of the
results. While one batch runs the next one fills, so batches grow with load. A batch of fewer
than `few` items first waits `linger` for more when one of the last `COMPANY_ROUNDS` batches
had company (more than one caller): concurrent callers that arrive one by one (unary
SubmitTask calls, each costing the event loop far more than its share of a batch) otherwise
make batches of one or two, each paying a transaction, a dispatch and a metrics record
(`ROUND_LINGER`: `python -m bench.tasks`, bench/README.md), while a lone caller, whose batches
are its own, would only wait for nobody. Submits are inserted this way (one
transaction for many SubmitTask calls) and the scheduler applies attempt reports this way.
`Outbox` is its fire-and-forget sibling, for callers that need no results of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

log = logging.getLogger("voka.tasks.batching")
Item = TypeVar("Item")
Result = TypeVar("Result")

# A batch of fewer than ROUND_FEW items waits ROUND_LINGER seconds for more (submits and
# reports) while callers have company. With 16 unary submits in flight, 8 alternating pairs of
# bench.tasks runs: a 3 ms wait took the CPU per task (every role) 13 % lower at the median;
# waiting only with company, 8 ms did better than 3 ms in 5 pairs of 6 (median -8 %), and a
# lone caller, who waited 3 ms on every submit before, waits for nobody. A stream's message of
# hundreds of tasks goes at once.
ROUND_LINGER = 0.008
ROUND_FEW = 64
COMPANY_ROUNDS = 8


class GroupCommit(Generic[Item, Result]):
    """`await submit(items)` returns the results of `items` once a batch holding them was
    applied (or raises what the batch operation raised). `apply` returns one result per item,
    in order, or None when it has none to give (callers then get [])."""

    def __init__(
        self, apply: Callable[[list[Item]], Awaitable[Sequence[Result] | None]], limit: int = 1000,
        *, linger: float = 0.0, few: int = ROUND_FEW,
    ) -> None:  # fmt: skip
        self._apply = apply
        self._limit = limit
        self._linger = linger
        self._few = few
        self._waiting: deque[tuple[Sequence[Item], asyncio.Future[list[Result]]]] = deque()
        self._ready = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        self._company = 0  # batches to come that linger: COMPANY_ROUNDS after one with company

    async def submit(self, items: Sequence[Item]) -> list[Result]:
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="tasks-group-commit")
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        self._waiting.append((items, future))
        self._ready.set()
        return await future

    async def close(self) -> None:
        """Stop the loop; callers still waiting get CancelledError."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        for _, future in self._waiting:
            future.cancel()
        self._waiting.clear()

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            few = sum(len(items) for items, _ in self._waiting) < self._few
            if self._linger and self._company > 0 and few:
                await asyncio.sleep(self._linger)
            while self._waiting:
                await self._apply_next()

    async def _apply_next(self) -> None:
        taken: list[tuple[Sequence[Item], asyncio.Future[list[Result]]]] = []
        count = 0
        while self._waiting and (not taken or count + len(self._waiting[0][0]) <= self._limit):
            entry = self._waiting.popleft()
            taken.append(entry)
            count += len(entry[0])
        self._company = COMPANY_ROUNDS if len(taken) > 1 else max(0, self._company - 1)
        try:
            results = await self._apply([item for items, _ in taken for item in items])
        except Exception as exc:
            log.warning("batch of %d failed: %s", count, exc)
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            return
        start = 0
        for items, future in taken:
            if not future.done():
                future.set_result(list(results[start : start + len(items)]) if results else [])
            start += len(items)


class Outbox(Generic[Item]):
    """Items sent in rounds, without a future per caller: `add(items)` returns at once the
    future of the round that will carry them, and one loop sends everything waiting per
    round. A caller that must know its items went out awaits that future; everyone who added
    to the round shares it, so a burst of short task attempts costs one wake-up per round,
    not one per attempt (workers publish their reports this way)."""

    def __init__(self, send: Callable[[list[Item]], Awaitable[None]], linger: float = 0.0) -> None:
        self._send = send
        self._linger = linger  # a round waits this long after its first item for more
        self._items: list[Item] = []
        self._round: asyncio.Future[None] | None = None
        self._ready = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    def add(self, items: Sequence[Item]) -> asyncio.Future[None]:
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="tasks-outbox")
        if self._round is None:
            self._round = asyncio.get_running_loop().create_future()
            self._round.add_done_callback(_retrieved)
            self._ready.set()
        self._items.extend(items)
        return self._round

    async def close(self) -> None:
        """Stop the loop; a round not sent is cancelled."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        if self._round is not None:
            self._round.cancel()
        self._items, self._round = [], None

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self._linger:
                await asyncio.sleep(self._linger)
            items, sent = self._items, self._round
            self._items, self._round = [], None
            if sent is None:
                continue
            try:
                await self._send(items)
            except Exception as exc:
                log.warning("round of %d not sent: %s", len(items), exc)
                sent.set_exception(exc)
            else:
                sent.set_result(None)


def _retrieved(future: asyncio.Future[None]) -> None:
    """A failed round whose callers were all cancelled meanwhile is not an unhandled error."""
    if not future.cancelled():
        future.exception()
