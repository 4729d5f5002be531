"""Bounded reply slots: a few run, a few wait, the rest are refused at once."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from services.assistant.load import Slots
from voka.errors import VokaError


async def test_beyond_running_and_waiting_replies_are_refused() -> None:
    slots = Slots(concurrency=1, queue=1)
    release = asyncio.Event()

    async def reply() -> float:
        async with slots.hold("local") as waited:
            await release.wait()
            return waited

    running = asyncio.create_task(reply())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(reply())
    await asyncio.sleep(0)
    assert (slots.in_flight, slots.queued) == (1, 1)
    with pytest.raises(VokaError) as refused:
        async with slots.hold("local"):
            pass
    assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "'local'" in refused.value.message
    release.set()
    assert await running == pytest.approx(0, abs=0.05)
    assert await waiting >= 0
    assert (slots.in_flight, slots.queued) == (0, 0)
