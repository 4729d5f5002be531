"""voka.sse: the frames of a Server-Sent Events stream, keepalives only through silences, and a
stream that ends early closes what feeds it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from contextlib import aclosing

from voka import sse


def test_an_event_is_one_data_line_of_compact_json_and_may_be_named():
    assert sse.event({"a": [1, "x\ny"]}) == b'data: {"a":[1,"x\\ny"]}\n\n'
    framed = sse.event({"reason": "idle"}, "end")
    assert framed == b'event: end\ndata: {"reason":"idle"}\n\n'
    assert json.loads(framed.split(b"data: ")[1]) == {"reason": "idle"}
    assert sse.retry(3000) == b"retry: 3000\n\n"
    assert sse.body(framed).content_type == "text/event-stream"


async def test_keepalives_fill_the_silences_and_only_them():
    async def slow() -> AsyncGenerator[bytes, None]:
        yield b"a"
        await asyncio.sleep(0.35)  # about three heartbeats of silence
        yield b"b"
        yield b"c"  # right after: no keepalive between

    async with aclosing(sse.with_heartbeats(slow(), 0.1)) as frames:
        seen = [frame async for frame in frames]
    assert seen[0] == b"a"
    assert seen[-2:] == [b"b", b"c"]
    assert set(seen[1:-2]) == {sse.KEEPALIVE}
    assert 2 <= len(seen[1:-2]) <= 4


async def test_ending_early_closes_the_source_and_leaves_nothing_running():
    closed = asyncio.Event()

    async def endless() -> AsyncGenerator[bytes, None]:
        try:
            yield b"first"
            await asyncio.sleep(3600)  # waiting for a change that never comes
            yield b"never"
        finally:
            closed.set()

    before = len(asyncio.all_tasks())
    async with aclosing(sse.with_heartbeats(endless(), 0.05)) as frames:
        assert await anext(frames) == b"first"
        assert await anext(frames) == sse.KEEPALIVE
    assert closed.is_set()
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) == before
