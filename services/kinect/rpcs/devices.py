"""Devices: the service's status, the devices of its source, and the commands they take (tilt
motor and LED)."""

from __future__ import annotations

from services.kinect import convert, validation
from services.kinect.rpcs.base import Context, KinectRpcs, operator
from voka import authn, pagination
from voka.kinect.v1 import kinect_pb2

DEVICES_QUERY = "devices"  # the list has no filters: every token continues the one list


class DeviceRpcs(KinectRpcs):
    """GetStatus, ListDevices, GetDevice, SetTilt and SetLed."""

    async def GetStatus(
        self, request: kinect_pb2.GetStatusRequest, context: Context
    ) -> kinect_pb2.GetStatusResponse:
        authn.caller()
        devices = self._devices
        reply = kinect_pb2.GetStatusResponse(
            device_count=devices.count,
            source=devices.source,
            driver_available=devices.selection.driver_available,
            fallback_reason=devices.selection.fallback_reason,
        )
        if devices.count:
            reply.device.CopyFrom(convert.device(await devices.state(0)))
            reply.connected = reply.device.connected
        return reply

    async def ListDevices(
        self, request: kinect_pb2.ListDevicesRequest, context: Context
    ) -> kinect_pb2.ListDevicesResponse:
        authn.caller()
        size, problems = pagination.page_size(request.page_size)
        start, bad_token = pagination.offset_of(request.page_token, DEVICES_QUERY)
        validation.require(problems + bad_token)
        count = self._devices.count
        indexes = range(start, min(start + size, count))
        more = start + size < count
        return kinect_pb2.ListDevicesResponse(
            devices=[convert.device(await self._devices.state(i)) for i in indexes],
            next_page_token=pagination.offset_token(DEVICES_QUERY, start + size) if more else "",
            total_size=count,
        )

    async def GetDevice(
        self, request: kinect_pb2.GetDeviceRequest, context: Context
    ) -> kinect_pb2.GetDeviceResponse:
        authn.caller()
        index = self._devices.index_of(request.name, required=True)
        return kinect_pb2.GetDeviceResponse(device=convert.device(await self._devices.state(index)))

    async def SetTilt(
        self, request: kinect_pb2.SetTiltRequest, context: Context
    ) -> kinect_pb2.SetTiltResponse:
        operator()
        validation.tilt(request.tilt_degrees)
        index = self._devices.index_of(request.name)
        state = await self._devices.set_tilt(index, request.tilt_degrees)
        return kinect_pb2.SetTiltResponse(device=convert.device(state))

    async def SetLed(
        self, request: kinect_pb2.SetLedRequest, context: Context
    ) -> kinect_pb2.SetLedResponse:
        operator()
        validation.led(request.led)
        index = self._devices.index_of(request.name)
        state = await self._devices.set_led(index, request.led)
        return kinect_pb2.SetLedResponse(device=convert.device(state))
