"""What the service asks of a frame source, whichever it is: a Kinect through libfreenect, a
fakenect replay of a recording (both in services/kinect/capture.py's process), or the
synthetic scene. Everything above this interface is the same for all three."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.kinect.frames import FrameSource, FrameType, LedState, RawFrame, TiltStatus


class CaptureError(Exception):
    """The source did not deliver: device unplugged, USB error, capture process gone."""


@dataclass(frozen=True)
class DeviceInfo:
    """What a source says about one of its devices."""

    serial: str
    model: str


@dataclass(frozen=True)
class Motor:
    """Tilt motor and accelerometer as last read."""

    tilt_degrees: float
    tilt_status: TiltStatus
    accelerometer: tuple[float, float, float]  # m/s², device axes


class Camera(Protocol):
    """A frame source with its devices, indexed from 0. Every call may block on the device,
    so implementations do their work off the event loop."""

    @property
    def source(self) -> FrameSource:
        """Where every frame it gives comes from."""
        ...

    @property
    def devices(self) -> list[DeviceInfo]: ...

    async def capture(self, index: int, frame_type: FrameType) -> RawFrame:
        """The next frame of that camera (blocks until the device has one)."""
        ...

    async def set_tilt(self, index: int, degrees: float) -> None: ...

    async def set_led(self, index: int, led: LedState) -> None: ...

    async def motor(self, index: int) -> Motor: ...

    async def close(self) -> None: ...
