"""The devices of the chosen source: their names, the commands they take, and what was last
asked of each (libfreenect cannot read the LED or the asked angle back), read into a
`DeviceState` that convert.py shows as the contract's `Device`."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from google.protobuf.message import Message

from services.kinect.camera import CaptureError, DeviceInfo, Motor
from services.kinect.frames import FrameSource, LedState
from services.kinect.hub import FrameHub
from services.kinect.selection import Selection
from voka import errors
from voka.bus import Bus
from voka.errors import FieldViolation
from voka.kinect.v1 import kinect_pb2

RESOURCE_TYPE = "kinect.voka.dev/Device"
EVENT_TIMEOUT = 5.0
NAME = re.compile(r"devices/(0|[1-9][0-9]{0,2})")


def name_of(index: int) -> str:
    return f"devices/{index}"


@dataclass(frozen=True)
class DeviceState:
    """One device as last read: `motor` is None when the device did not answer."""

    index: int
    info: DeviceInfo
    source: FrameSource
    led: LedState
    active_streams: int
    connect_time: datetime
    motor: Motor | None
    target_tilt_degrees: float | None  # None: never asked, the motor's own angle
    moving: bool  # a tilt was just asked of a real motor, which starts after the answer
    read_time: datetime

    @property
    def name(self) -> str:
        return name_of(self.index)


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

    async def state(self, index: int) -> DeviceState:
        """The device now, its motor read from the device (when it answers)."""
        try:
            motor: Motor | None = await self.selection.camera.motor(index)
        except CaptureError:
            motor = None
        return DeviceState(
            index=index,
            info=self.selection.camera.devices[index],
            source=self.source,
            led=self._led.get(index, kinect_pb2.LED_STATE_UNSPECIFIED),
            active_streams=self._hub.active(index),
            connect_time=self._since,
            motor=motor,
            target_tilt_degrees=self._target.get(index),
            moving=False,
            read_time=datetime.now(UTC),
        )

    async def set_tilt(self, index: int, degrees: float) -> DeviceState:
        await self._command(self.selection.camera.set_tilt(index, degrees))
        self._target[index] = degrees
        state = await self.state(index)
        return replace(state, moving=self.source == kinect_pb2.FRAME_SOURCE_HARDWARE)

    async def set_led(self, index: int, led: LedState) -> DeviceState:
        await self._command(self.selection.camera.set_led(index, led))
        self._led[index] = led
        return await self.state(index)

    @staticmethod
    async def _command(command: Awaitable[None]) -> None:
        try:
            await command
        except CaptureError as exc:
            raise errors.unavailable(f"the device did not take the command: {exc}") from exc


async def announce(bus: Bus | None, events: Sequence[Message]) -> None:
    """Publish device events; they inform, so a slow or absent NATS never blocks the service."""
    if bus is None:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(EVENT_TIMEOUT):
            for event in events:
                await bus.publish(event)
