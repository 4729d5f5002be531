"""Request checks: every bad field of a request is reported at once, by its name, and the
defaults the contract gives to unset fields are applied here, once."""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.kinect.frames import FrameFormat, FrameType, LedState
from voka import errors
from voka.errors import FieldViolation
from voka.kinect.v1 import kinect_pb2

MAX_TILT = 27.0
DOWNSAMPLES = (1, 2, 4, 8)
MAX_FPS = 30
MAX_FRAMES = 100_000
DEPTH_FORMATS = (
    kinect_pb2.FRAME_FORMAT_DEPTH_11BIT,
    kinect_pb2.FRAME_FORMAT_DEPTH_MM,
    kinect_pb2.FRAME_FORMAT_PNG,
)
RGB_FORMATS = (
    kinect_pb2.FRAME_FORMAT_RGB24,
    kinect_pb2.FRAME_FORMAT_PNG,
    kinect_pb2.FRAME_FORMAT_JPEG,
)
LEDS = tuple(v for v in kinect_pb2.LedState.values() if v != kinect_pb2.LED_STATE_UNSPECIFIED)


@dataclass(frozen=True)
class StreamAsk:
    """A StreamFrames request with its defaults applied."""

    types: tuple[FrameType, ...]
    fps: int
    downsample: int
    depth_format: FrameFormat
    rgb_format: FrameFormat
    jpeg_quality: int
    max_frames: int


@dataclass(frozen=True)
class SnapshotAsk:
    """A GetSnapshot request with its defaults applied."""

    type: FrameType
    format: FrameFormat
    downsample: int
    colorize: bool


def require(violations: list[FieldViolation]) -> None:
    if violations:
        raise errors.invalid_argument(violations)


def tilt(degrees: float) -> None:
    if not math.isfinite(degrees) or abs(degrees) > MAX_TILT:
        require([FieldViolation("tilt_degrees", f"must be between -27 and 27, not {degrees:g}")])


def led(value: LedState) -> None:
    if value not in LEDS:
        require([FieldViolation("led", "must be a LedState other than LED_STATE_UNSPECIFIED")])


def stream(request: kinect_pb2.StreamFramesRequest, max_fps: int) -> StreamAsk:
    problems = _downsample(request.downsample)
    types = tuple(dict.fromkeys(request.types)) or (kinect_pb2.FRAME_TYPE_DEPTH,)
    if any(t not in (kinect_pb2.FRAME_TYPE_DEPTH, kinect_pb2.FRAME_TYPE_RGB) for t in types):
        problems.append(FieldViolation("types", "must be FRAME_TYPE_DEPTH or FRAME_TYPE_RGB"))
    if not 0 <= request.fps <= MAX_FPS:
        problems.append(FieldViolation("fps", "must be between 1 and 30 (0: 30)"))
    depth_format = request.depth_format or kinect_pb2.FRAME_FORMAT_DEPTH_MM
    if depth_format not in DEPTH_FORMATS:
        problems.append(FieldViolation("depth_format", "must be DEPTH_11BIT, DEPTH_MM or PNG"))
    rgb_format = request.rgb_format or kinect_pb2.FRAME_FORMAT_RGB24
    if rgb_format not in RGB_FORMATS:
        problems.append(FieldViolation("rgb_format", "must be RGB24, PNG or JPEG"))
    if not 0 <= request.jpeg_quality <= 100:
        problems.append(FieldViolation("jpeg_quality", "must be between 1 and 100 (0: 80)"))
    if not 0 <= request.max_frames <= MAX_FRAMES:
        problems.append(FieldViolation("max_frames", "must be between 0 and 100000"))
    require(problems)
    return StreamAsk(
        types=types,
        fps=min(request.fps or MAX_FPS, max_fps),
        downsample=request.downsample or 1,
        depth_format=depth_format,
        rgb_format=rgb_format,
        jpeg_quality=request.jpeg_quality or 80,
        max_frames=request.max_frames,
    )


def snapshot(request: kinect_pb2.GetSnapshotRequest) -> SnapshotAsk:
    problems = _downsample(request.downsample)
    frame_type = request.type or kinect_pb2.FRAME_TYPE_DEPTH
    if frame_type not in (kinect_pb2.FRAME_TYPE_DEPTH, kinect_pb2.FRAME_TYPE_RGB):
        problems.append(FieldViolation("type", "must be FRAME_TYPE_DEPTH or FRAME_TYPE_RGB"))
    fmt = request.format or kinect_pb2.FRAME_FORMAT_PNG
    allowed = (kinect_pb2.FRAME_FORMAT_PNG, kinect_pb2.FRAME_FORMAT_JPEG)
    if fmt not in allowed or (
        fmt == kinect_pb2.FRAME_FORMAT_JPEG and frame_type != kinect_pb2.FRAME_TYPE_RGB
    ):
        problems.append(FieldViolation("format", "must be PNG, or JPEG for FRAME_TYPE_RGB"))
    if request.colorize and frame_type != kinect_pb2.FRAME_TYPE_DEPTH:
        problems.append(FieldViolation("colorize", "applies to depth frames only"))
    require(problems)
    return SnapshotAsk(frame_type, fmt, request.downsample or 1, request.colorize)


def _downsample(value: int) -> list[FieldViolation]:
    if value and value not in DOWNSAMPLES:
        return [FieldViolation("downsample", "must be 1, 2, 4 or 8 (0: 1)")]
    return []
