"""The devices as the contract shows them: names, what was last asked of each (libfreenect
cannot read the LED or the asked angle back), and their `Device` messages."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from datetime import UTC, datetime

from services.kinect.camera import CaptureError, Motor
from services.kinect.frames import HEIGHT, WIDTH, FrameSource, LedState
from services.kinect.hub import FrameHub
from services.kinect.selection import Selection
from voka import errors, wellknown
from voka.errors import FieldViolation
from voka.kinect.v1 import kinect_pb2

K = kinect_pb2
RESOURCE_TYPE = "kinect.voka.dev/Device"
NAME = re.compile(r"devices/(0|[1-9][0-9]{0,2})")
MODES = [
    K.FrameMode(type=K.FRAME_TYPE_DEPTH, width=WIDTH, height=HEIGHT, max_fps=30),
    K.FrameMode(type=K.FRAME_TYPE_RGB, width=WIDTH, height=HEIGHT, max_fps=30),
]


def name_of(index: int) -> str:
    return f"devices/{index}"


class Devices:
    """Every device of the chosen source, by index."""

    def __init__(self, selection: Selection, hub: FrameHub) -> None:
        self.selection = selection
        self._hub = hub
        self._since = datetime.now(UTC)
        self._led: dict[int, LedState] = {}
        self._target: dict[int, float] = {}

    @property
    def count(self) -> int:
        return len(self.selection.camera.devices)

    @property
    def source(self) -> FrameSource:
        return self.selection.camera.source

    def index_of(self, name: str, path: str = "name", required: bool = False) -> int:
        """The index `name` addresses ("" is the first device unless `required`)."""
        if not name and not required:
            return 0
        match = NAME.fullmatch(name)
        if match is None:
            raise errors.invalid_argument([FieldViolation(path, "must be devices/{index}")])
        index = int(match.group(1))
        if index >= self.count:
            raise errors.not_found(RESOURCE_TYPE, name)
        return index

    async def describe(self, index: int) -> kinect_pb2.Device:
        """The device now, its motor read from the device (when it answers)."""
        info = self.selection.camera.devices[index]
        device = K.Device(
            name=name_of(index),
            source=self.source,
            serial=info.serial,
            model=info.model,
            led=self._led.get(index, K.LED_STATE_UNSPECIFIED),
            modes=MODES,
            active_streams=self._hub.active(index),
            connect_time=wellknown.timestamp(self._since),
        )
        try:
            motor = await self.selection.camera.motor(index)
        except CaptureError:
            motor = None
        device.connected = motor is not None
        if motor is not None:
            _put_motor(device, motor)
        device.target_tilt_degrees = self._target.get(index, device.tilt_degrees)
        device.update_time.CopyFrom(wellknown.timestamp(datetime.now(UTC)))
        return device

    async def set_tilt(self, index: int, degrees: float) -> kinect_pb2.Device:
        await self._command(self.selection.camera.set_tilt(index, degrees))
        self._target[index] = degrees
        device = await self.describe(index)
        if self.source == K.FRAME_SOURCE_HARDWARE:
            device.tilt_status = K.TILT_STATUS_MOVING  # the motor starts after the answer
        return device

    async def set_led(self, index: int, led: LedState) -> kinect_pb2.Device:
        await self._command(self.selection.camera.set_led(index, led))
        self._led[index] = led
        return await self.describe(index)

    @staticmethod
    async def _command(command: Awaitable[None]) -> None:
        try:
            await command
        except CaptureError as exc:
            raise errors.unavailable(f"the device did not take the command: {exc}") from exc


def _put_motor(device: kinect_pb2.Device, motor: Motor) -> None:
    device.tilt_degrees = motor.tilt_degrees
    device.tilt_status = motor.tilt_status
    x, y, z = motor.accelerometer
    device.accelerometer.CopyFrom(K.Accelerometer(x=x, y=y, z=z))
