"""The services' event-loop-lag check (tests/services/loop_lag.py) catches a handler that
blocks the loop, names it and shows where it blocked, and passes one that does not."""

from __future__ import annotations

import asyncio
import time

from tests.services.loop_lag import LIMIT_SECONDS, TRIES, Phase, blocked_phases


async def _blocking_handler() -> None:
    time.sleep(LIMIT_SECONDS * 1.6)  # noqa: ASYNC251 - the blocking call the check must catch


def _spin(seconds: float) -> None:
    """Pure Python work: it holds the interpreter lock but for the switches every 5 ms."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


async def _computing_handler() -> None:
    _spin(LIMIT_SECONDS * 1.6)


async def _polite_handler() -> None:
    await asyncio.sleep(LIMIT_SECONDS * 1.6)


async def test_a_handler_that_blocks_the_loop_is_named_with_its_line() -> None:
    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await _blocking_handler()

    failures = await blocked_phases("demo", [Phase("Block", counted, calls=2, in_flight=1)])
    assert len(failures) == 1
    held = f"demo Block blocked the event loop longer than 50 ms in each of {TRIES} tries"
    assert failures[0].startswith(held)
    assert "_blocking_handler" in failures[0]
    assert calls == 2 * TRIES  # a phase over the limit runs again before it counts


async def test_a_handler_that_computes_on_the_loop_is_named() -> None:
    failures = await blocked_phases("demo", [Phase("Compute", _computing_handler, calls=2)])
    assert len(failures) == 1
    assert failures[0].startswith("demo Compute blocked the event loop")


async def test_handlers_that_await_or_compute_in_threads_pass() -> None:
    phases = [
        Phase("Sleep", _polite_handler, calls=4, in_flight=2),
        Phase("Thread", lambda: asyncio.to_thread(_spin, LIMIT_SECONDS * 1.6), calls=4),
    ]
    assert await blocked_phases("demo", phases) == []
