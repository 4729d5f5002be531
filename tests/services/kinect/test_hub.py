"""The frame hub alone on the synthetic camera: a reader that falls behind loses the oldest
frames (a gap in `sequence`), never grows a queue; one user cannot take every stream slot."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from services.kinect.hub import FrameHub
from services.kinect.synthetic import SyntheticCamera
from voka import errors
from voka.kinect.v1 import kinect_pb2


async def test_a_slow_reader_keeps_only_the_newest_frames():
    hub = FrameHub(SyntheticCamera(), max_fps=30, max_streams=1, buffer=2)
    try:
        depth = [kinect_pb2.FRAME_TYPE_DEPTH]
        async with hub.subscribe(0, depth, fps=30, owner="users/a") as subscription:
            await asyncio.sleep(0.4)  # about 12 frames captured meanwhile
            assert len(subscription.pending) == 2
            first, _ = await subscription.next()
            second, _ = await subscription.next()
            assert first > 2
            assert second == first + 1
    finally:
        await hub.close()


async def test_one_owner_holds_at_most_its_share_of_the_streams():
    hub = FrameHub(SyntheticCamera(), max_fps=30, max_streams=3, buffer=2, max_streams_per_user=2)
    depth = [kinect_pb2.FRAME_TYPE_DEPTH]
    try:
        async with (
            hub.subscribe(0, depth, fps=1, owner="users/a"),
            hub.subscribe(0, depth, fps=1, owner="users/a"),
        ):
            with pytest.raises(errors.VokaError) as refused:
                async with hub.subscribe(0, depth, fps=1, owner="users/a"):
                    pass
            assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
            async with hub.subscribe(0, depth, fps=1, owner="users/b"):
                assert hub.active(0) == 3
        async with hub.subscribe(0, depth, fps=1, owner="users/a"):  # slots come back
            assert hub.active(0) == 1
    finally:
        await hub.close()
