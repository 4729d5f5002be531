"""Frames: live streams of a device's cameras, shared through the hub, each frame encoded as
its stream asked, off the event loop. A stream holds a capture loop open, so it is for
operators, and counts against its caller's share of the hub's slots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from services.kinect import convert, imaging, validation
from services.kinect.camera import CaptureError
from services.kinect.devices import name_of
from services.kinect.frames import RawFrame
from services.kinect.rpcs.base import Context, KinectRpcs, operator
from voka import errors
from voka.kinect.v1 import kinect_pb2


class FrameRpcs(KinectRpcs):
    """StreamFrames."""

    async def StreamFrames(
        self, request: kinect_pb2.StreamFramesRequest, context: Context
    ) -> AsyncIterator[kinect_pb2.StreamFramesResponse]:
        owner = operator().subject  # an API key's streams count as its owner's
        ask = validation.stream(request, self._max_fps)
        index = self._devices.index_of(request.name)
        sent = 0
        async with self._hub.subscribe(index, ask.types, ask.fps, owner) as subscription:
            while not ask.max_frames or sent < ask.max_frames:
                try:
                    sequence, raw = await subscription.next()
                except CaptureError as exc:
                    raise errors.unavailable(f"the device stopped delivering: {exc}") from exc
                frame = await self._frame(index, sequence, raw, ask)
                yield kinect_pb2.StreamFramesResponse(frame=frame)
                sent += 1

    async def _frame(
        self, index: int, sequence: int, raw: RawFrame, ask: validation.StreamAsk
    ) -> kinect_pb2.Frame:
        fmt = ask.depth_format if raw.type == kinect_pb2.FRAME_TYPE_DEPTH else ask.rgb_format
        encoded = await asyncio.to_thread(
            imaging.encode, raw, fmt, ask.downsample, ask.jpeg_quality
        )
        return convert.frame(
            raw, sequence, encoded, fmt=fmt, source=self._devices.source, device_name=name_of(index)
        )
