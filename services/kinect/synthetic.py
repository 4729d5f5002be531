"""The synthetic stand-in: a moving test scene made with numpy, no camera involved.

It serves `make up` and tests on machines without a Kinect and without a recording. Frames come
at a Kinect's pace (30 per second per camera), like a real `sync_get_*` that blocks until the
next frame, and its frames always say SYNTHETIC.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from services.kinect.camera import DeviceInfo, Motor
from services.kinect.frames import (
    HEIGHT,
    WIDTH,
    FrameSource,
    FrameType,
    LedState,
    Pixels,
    RawFrame,
    to_disparity,
)
from voka.kinect.v1 import kinect_pb2

GRAVITY = 9.80665
TICKS_PER_SECOND = 1_000_000  # the synthetic device clock, for `device_timestamp`
SENSOR_FPS = 30  # a Kinect's rate

_ROWS, _COLS = np.mgrid[0:HEIGHT, 0:WIDTH]
_WALL_MM = 2500.0 + _COLS * 2.0  # a wall receding to the right, 2.5 m to 3.8 m


def _ball(t: float) -> npt.NDArray[np.bool_]:
    """A ball circling in front of the wall."""
    cx = WIDTH / 2 + 180 * math.cos(t)
    cy = HEIGHT / 2 + 120 * math.sin(t)
    return np.asarray((_COLS - cx) ** 2 + (_ROWS - cy) ** 2 < 60**2)


def depth_at(t: float) -> npt.NDArray[np.uint16]:
    """Disparity at `t` seconds: the ball at 1.2 m, the wall behind it, and a corner the sensor
    cannot see (no reading), so every path through the service meets one."""
    mm = np.where(_ball(t), 1200.0, _WALL_MM)
    mm[:40, :40] = 0.0
    return to_disparity(mm)


def rgb_at(t: float) -> npt.NDArray[np.uint8]:
    """Colour at `t` seconds: a red ball over a gradient."""
    ball = _ball(t)
    rgb = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    rgb[..., 0] = np.where(ball, 220, _COLS * 255 // WIDTH)
    rgb[..., 1] = np.where(ball, 40, _ROWS * 255 // HEIGHT)
    rgb[..., 2] = np.where(ball, 40, 128)
    return rgb


class SyntheticCamera:
    """One synthetic device, `devices/0`; the tilt takes the asked angle at once."""

    def __init__(self, fps: int = SENSOR_FPS) -> None:
        self._interval = 1.0 / fps
        self._started = asyncio.get_running_loop().time()
        self._next: dict[FrameType, float] = {
            kinect_pb2.FRAME_TYPE_DEPTH: 0.0,
            kinect_pb2.FRAME_TYPE_RGB: 0.0,
        }
        self._tilt = 0.0

    @property
    def source(self) -> FrameSource:
        return kinect_pb2.FRAME_SOURCE_SYNTHETIC

    @property
    def devices(self) -> list[DeviceInfo]:
        return [DeviceInfo(serial="synthetic", model="Synthetic test scene (no camera)")]

    async def capture(self, index: int, frame_type: FrameType) -> RawFrame:
        loop = asyncio.get_running_loop()
        due = max(self._next[frame_type], loop.time())
        self._next[frame_type] = due + self._interval
        await asyncio.sleep(due - loop.time())
        t = due - self._started
        depth = frame_type == kinect_pb2.FRAME_TYPE_DEPTH
        pixels: Pixels = await asyncio.to_thread(depth_at if depth else rgb_at, t)
        return RawFrame(frame_type, pixels, int(t * TICKS_PER_SECOND), datetime.now(UTC))

    async def set_tilt(self, index: int, degrees: float) -> None:
        self._tilt = degrees

    async def set_led(self, index: int, led: LedState) -> None:
        """Nothing to light: the registry remembers the state it reports."""

    async def motor(self, index: int) -> Motor:
        angle = math.radians(self._tilt)
        accel = (0.0, GRAVITY * math.cos(angle), GRAVITY * math.sin(angle))
        return Motor(self._tilt, kinect_pb2.TILT_STATUS_STOPPED, accel)

    async def close(self) -> None:
        """Nothing to release."""
