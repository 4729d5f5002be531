"""The KinectService RPCs. Every one checks its caller first (the contract makes them all
ACCESS_AUTHENTICATED; the kit has refused anonymous calls already, `authn.caller()` makes the
handler's dependence on it explicit). Frames are encoded off the event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.api import httpbody_pb2

from services.kinect import imaging, validation
from services.kinect.camera import CaptureError
from services.kinect.devices import Devices, name_of
from services.kinect.frames import RawFrame
from services.kinect.hub import FrameHub
from voka import authn, errors, pagination, wellknown
from voka.kinect.v1 import kinect_pb2, kinect_pb2_grpc

K = kinect_pb2
Context = grpc.aio.ServicerContext[Any, Any]
CONTENT_TYPES = {K.FRAME_FORMAT_PNG: "image/png", K.FRAME_FORMAT_JPEG: "image/jpeg"}


class KinectServicer(kinect_pb2_grpc.KinectServiceServicer):
    def __init__(self, devices: Devices, hub: FrameHub, max_fps: int) -> None:
        self._devices = devices
        self._hub = hub
        self._max_fps = max_fps

    async def GetStatus(self, request: K.GetStatusRequest, context: Context) -> K.GetStatusResponse:
        authn.caller()
        devices = self._devices
        reply = K.GetStatusResponse(
            device_count=devices.count,
            source=devices.source,
            driver_available=devices.selection.driver_available,
            fallback_reason=devices.selection.fallback_reason,
        )
        if devices.count:
            reply.device.CopyFrom(await devices.describe(0))
            reply.connected = reply.device.connected
        return reply

    async def ListDevices(
        self, request: K.ListDevicesRequest, context: Context
    ) -> K.ListDevicesResponse:
        authn.caller()
        size, problems = pagination.page_size(request.page_size)
        start, bad_token = pagination.offset_of(request.page_token, "devices")
        validation.require(problems + bad_token)
        indexes = range(start, min(start + size, self._devices.count))
        more = start + size < self._devices.count
        return K.ListDevicesResponse(
            devices=[await self._devices.describe(i) for i in indexes],
            next_page_token=pagination.offset_token("devices", start + size) if more else "",
            total_size=self._devices.count,
        )

    async def GetDevice(self, request: K.GetDeviceRequest, context: Context) -> K.GetDeviceResponse:
        authn.caller()
        index = self._devices.index_of(request.name, required=True)
        return K.GetDeviceResponse(device=await self._devices.describe(index))

    async def SetTilt(self, request: K.SetTiltRequest, context: Context) -> K.SetTiltResponse:
        authn.caller()
        validation.tilt(request.tilt_degrees)
        index = self._devices.index_of(request.name)
        return K.SetTiltResponse(device=await self._devices.set_tilt(index, request.tilt_degrees))

    async def SetLed(self, request: K.SetLedRequest, context: Context) -> K.SetLedResponse:
        authn.caller()
        validation.led(request.led)
        index = self._devices.index_of(request.name)
        return K.SetLedResponse(device=await self._devices.set_led(index, request.led))

    async def StreamFrames(
        self, request: K.StreamFramesRequest, context: Context
    ) -> AsyncIterator[K.StreamFramesResponse]:
        authn.caller()
        ask = validation.stream(request, self._max_fps)
        index = self._devices.index_of(request.name)
        sent = 0
        async with self._hub.subscribe(index, ask.types, ask.fps) as subscription:
            while not ask.max_frames or sent < ask.max_frames:
                try:
                    sequence, raw = await subscription.next()
                except CaptureError as exc:
                    raise errors.unavailable(f"the device stopped delivering: {exc}") from exc
                yield K.StreamFramesResponse(frame=await self._frame(index, sequence, raw, ask))
                sent += 1

    async def _frame(
        self, index: int, sequence: int, raw: RawFrame, ask: validation.StreamAsk
    ) -> K.Frame:
        depth = raw.type == K.FRAME_TYPE_DEPTH
        fmt = ask.depth_format if depth else ask.rgb_format
        data, width, height = await asyncio.to_thread(
            imaging.encode, raw, fmt, ask.downsample, ask.jpeg_quality
        )
        return K.Frame(
            type=raw.type,
            sequence=sequence,
            capture_time=wellknown.timestamp(raw.capture_time),
            device_timestamp=raw.device_timestamp & 0xFFFFFFFF,
            width=width,
            height=height,
            format=fmt,
            data=data,
            source=self._devices.source,
            device=name_of(index),
        )

    async def GetSnapshot(
        self, request: K.GetSnapshotRequest, context: Context
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
        return httpbody_pb2.HttpBody(content_type=CONTENT_TYPES[ask.format], data=data)
