"""Snapshots: one still image of a device's camera, as PNG or JPEG (an HTTP body, so a browser
shows it as it is)."""

from __future__ import annotations

import asyncio

from google.api import httpbody_pb2

from services.kinect import convert, imaging, validation
from services.kinect.camera import CaptureError
from services.kinect.rpcs.base import Context, KinectRpcs
from voka import authn, errors
from voka.kinect.v1 import kinect_pb2


class SnapshotRpcs(KinectRpcs):
    """GetSnapshot."""

    async def GetSnapshot(
        self, request: kinect_pb2.GetSnapshotRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        authn.caller()
        ask = validation.snapshot(request)
        index = self._devices.index_of(request.name)
        try:
            raw = await self._hub.latest(index, ask.type)
        except CaptureError as exc:
            raise errors.unavailable(f"the device gave no frame: {exc}") from exc
        data, _, _ = await asyncio.to_thread(
            imaging.encode, raw, ask.format, ask.downsample, colorize=ask.colorize
        )
        return convert.snapshot(data, ask.format)
