"""The frame hub alone on the synthetic camera: a reader that falls behind loses the oldest
frames (a gap in `sequence`), never grows a queue."""

from __future__ import annotations

import asyncio

from services.kinect.hub import FrameHub
from services.kinect.synthetic import SyntheticCamera
from voka.kinect.v1 import kinect_pb2


async def test_a_slow_reader_keeps_only_the_newest_frames():
    hub = FrameHub(SyntheticCamera(), max_fps=30, max_streams=1, buffer=2)
    try:
        async with hub.subscribe(0, [kinect_pb2.FRAME_TYPE_DEPTH], fps=30) as subscription:
            await asyncio.sleep(0.4)  # about 12 frames captured meanwhile
            assert len(subscription.pending) == 2
            first, _ = await subscription.next()
            second, _ = await subscription.next()
            assert first > 2
            assert second == first + 1
    finally:
        await hub.close()
