"""A captured frame as every source hands it over, and the sensor's depth units.

Every source (a Kinect, a fakenect replay, the synthetic scene) delivers what libfreenect's
`sync_get_depth`/`sync_get_video` deliver: 11-bit disparity and 8-bit RGB at 640x480. Keeping
one raw shape means one conversion path (imaging.py) whatever the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from voka.kinect.v1 import kinect_pb2

WIDTH, HEIGHT = 640, 480
NO_READING = 2047  # 11-bit disparity the sensor gives where it saw nothing
MAX_RANGE_MM = 10_000  # beyond this the disparity formula no longer means anything

# Disparity to distance, the OpenKinect community's fit (Magnenat): d = 123.6 tan(raw/2842.5 +
# 1.1863) mm. libfreenect's own DEPTH_MM needs the device's registration tables, which a
# recording made by Debian's `record` does not carry, so the service converts with this fit.
_A, _B, _C = 123.6, 2842.5, 1.1863

Pixels: TypeAlias = npt.NDArray[Any]  # uint16 disparity or uint8 RGB
# The contract's enums, as mypy-protobuf types them.
FrameType: TypeAlias = kinect_pb2.FrameType.ValueType
FrameFormat: TypeAlias = kinect_pb2.FrameFormat.ValueType
FrameSource: TypeAlias = kinect_pb2.FrameSource.ValueType
TiltStatus: TypeAlias = kinect_pb2.TiltStatus.ValueType
LedState: TypeAlias = kinect_pb2.LedState.ValueType


@dataclass(frozen=True)
class RawFrame:
    """One capture: depth is uint16 (480, 640) disparity, RGB is uint8 (480, 640, 3)."""

    type: FrameType
    pixels: Pixels
    device_timestamp: int
    capture_time: datetime


def _millimetre_table() -> npt.NDArray[np.uint16]:
    raw = np.arange(NO_READING + 1, dtype=np.float64)
    mm = _A * np.tan(raw / _B + _C)
    valid = (raw < NO_READING) & (mm > 0) & (mm < MAX_RANGE_MM)
    return np.where(valid, np.rint(mm), 0).astype(np.uint16)


MILLIMETRES = _millimetre_table()


def to_millimetres(disparity: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint16]:
    """Depth in mm, 0 where there is no reading (a table lookup: 30 fps on a small CPU)."""
    return MILLIMETRES[np.minimum(disparity, NO_READING)]


def to_disparity(millimetres: npt.NDArray[np.float64]) -> npt.NDArray[np.uint16]:
    """The inverse fit, for scenes made in mm (synthetic frames); 0 mm is no reading."""
    raw = (np.arctan(np.maximum(millimetres, 1.0) / _A) - _C) * _B
    raw = np.where(millimetres > 0, np.clip(np.rint(raw), 0, NO_READING - 1), NO_READING)
    return raw.astype(np.uint16)
