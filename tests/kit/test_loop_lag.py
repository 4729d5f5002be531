"""`voka_event_loop_lag_seconds` shows a loop held by blocking work, and stays low otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import REGISTRY

from voka import loop_lag


def _count_above(seconds: float) -> float:
    """Observations of the lag histogram greater than `seconds` (a bucket bound)."""
    total = REGISTRY.get_sample_value("voka_event_loop_lag_seconds_count") or 0.0
    within = REGISTRY.get_sample_value("voka_event_loop_lag_seconds_bucket", {"le": str(seconds)})
    return total - (within or 0.0)


async def test_a_blocked_loop_shows_as_lag() -> None:
    before = _count_above(0.1)
    probe = asyncio.create_task(loop_lag.watch(interval=0.01))
    try:
        await asyncio.sleep(0.05)
        time.sleep(0.3)  # noqa: ASYNC251 - the blocking call under test
        await asyncio.sleep(0.05)  # the probe wakes, late, and records it
    finally:
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe
    assert _count_above(0.1) - before == 1


async def test_an_idle_loop_shows_none() -> None:
    before = _count_above(0.25)
    probe = asyncio.create_task(loop_lag.watch(interval=0.01))
    await asyncio.sleep(0.3)
    probe.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await probe
    assert _count_above(0.25) == before
