"""Device states, captured frames and device comings and goings → the contract's messages and
events: what a caller sees of a device and of a frame is decided here, once."""

from __future__ import annotations

from google.api import httpbody_pb2

from services.kinect.camera import DeviceInfo
from services.kinect.devices import DeviceState, name_of
from services.kinect.frames import HEIGHT, WIDTH, FrameFormat, FrameSource, RawFrame
from voka import wellknown
from voka.kinect.v1 import events_pb2, kinect_pb2

MODES = [
    kinect_pb2.FrameMode(type=kinect_pb2.FRAME_TYPE_DEPTH, width=WIDTH, height=HEIGHT, max_fps=30),
    kinect_pb2.FrameMode(type=kinect_pb2.FRAME_TYPE_RGB, width=WIDTH, height=HEIGHT, max_fps=30),
]
CONTENT_TYPES = {
    kinect_pb2.FRAME_FORMAT_PNG: "image/png",
    kinect_pb2.FRAME_FORMAT_JPEG: "image/jpeg",
}
DEVICE_TIMESTAMP_MASK = 0xFFFFFFFF  # the device clock is 32 bits wide


def device(state: DeviceState) -> kinect_pb2.Device:
    message = kinect_pb2.Device(
        name=state.name,
        source=state.source,
        serial=state.info.serial,
        model=state.info.model,
        led=state.led,
        modes=MODES,
        active_streams=state.active_streams,
        connect_time=wellknown.timestamp(state.connect_time),
        connected=state.motor is not None,
        update_time=wellknown.timestamp(state.read_time),
    )
    if state.motor is not None:
        message.tilt_degrees = state.motor.tilt_degrees
        message.tilt_status = state.motor.tilt_status
        x, y, z = state.motor.accelerometer
        message.accelerometer.CopyFrom(kinect_pb2.Accelerometer(x=x, y=y, z=z))
    if state.target_tilt_degrees is None:
        message.target_tilt_degrees = message.tilt_degrees
    else:
        message.target_tilt_degrees = state.target_tilt_degrees
    if state.moving:
        message.tilt_status = kinect_pb2.TILT_STATUS_MOVING
    return message


def frame(
    raw: RawFrame,
    sequence: int,
    encoded: tuple[bytes, int, int],
    *,
    fmt: FrameFormat,
    source: FrameSource,
    device_name: str,
) -> kinect_pb2.Frame:
    """A frame message for `raw`, its pixels `encoded` as (data, width, height) in `fmt`."""
    data, width, height = encoded
    return kinect_pb2.Frame(
        type=raw.type,
        sequence=sequence,
        capture_time=wellknown.timestamp(raw.capture_time),
        device_timestamp=raw.device_timestamp & DEVICE_TIMESTAMP_MASK,
        width=width,
        height=height,
        format=fmt,
        data=data,
        source=source,
        device=device_name,
    )


def snapshot(data: bytes, fmt: FrameFormat) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=CONTENT_TYPES[fmt], data=data)


def connected_events(
    source: FrameSource, devices: list[DeviceInfo]
) -> list[events_pb2.DeviceConnectedEvent]:
    return [
        events_pb2.DeviceConnectedEvent(device=name_of(i), source=source, serial=info.serial)
        for i, info in enumerate(devices)
    ]


def disconnected_events(
    source: FrameSource, count: int, reason: str
) -> list[events_pb2.DeviceDisconnectedEvent]:
    return [
        events_pb2.DeviceDisconnectedEvent(device=name_of(i), source=source, reason=reason)
        for i in range(count)
    ]
