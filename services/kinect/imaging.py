"""Raw frames to the bytes a caller asked for: raw sensor layouts, PNG or JPEG, downsampled.

Encoding is CPU work (a PNG of a full frame takes milliseconds), so callers run it off the
event loop.
"""

from __future__ import annotations

import io

import numpy as np
import numpy.typing as npt
from PIL import Image

from services.kinect.frames import FrameFormat, Pixels, RawFrame, to_millimetres
from voka.kinect.v1 import kinect_pb2

NEAR_MM, FAR_MM = 500, 4500  # the range false colour spreads over


def encode(
    frame: RawFrame,
    fmt: FrameFormat,
    downsample: int,
    jpeg_quality: int = 80,
    colorize: bool = False,
) -> tuple[bytes, int, int]:
    """(data, width, height) of `frame` in `fmt` keeping every `downsample`-th pixel."""
    pixels = frame.pixels[::downsample, ::downsample]
    height, width = pixels.shape[:2]
    if frame.type == kinect_pb2.FRAME_TYPE_DEPTH:
        return _depth(pixels, fmt, colorize), width, height
    return _rgb(pixels, fmt, jpeg_quality), width, height


def _depth(disparity: Pixels, fmt: FrameFormat, colorize: bool) -> bytes:
    if fmt == kinect_pb2.FRAME_FORMAT_DEPTH_11BIT:
        return disparity.astype("<u2").tobytes()
    mm = to_millimetres(disparity)
    if fmt == kinect_pb2.FRAME_FORMAT_PNG:
        image = Image.fromarray(false_colour(mm) if colorize else mm)
        return _save(image, "PNG")
    return mm.astype("<u2").tobytes()  # DEPTH_MM


def _rgb(pixels: Pixels, fmt: FrameFormat, quality: int) -> bytes:
    if fmt == kinect_pb2.FRAME_FORMAT_PNG:
        return _save(Image.fromarray(pixels), "PNG")
    if fmt == kinect_pb2.FRAME_FORMAT_JPEG:
        return _save(Image.fromarray(pixels), "JPEG", quality=quality)
    return np.ascontiguousarray(pixels).tobytes()  # RGB24


def false_colour(mm: npt.NDArray[np.uint16]) -> npt.NDArray[np.uint8]:
    """Near red through green to far blue; black where there is no reading."""
    t = np.clip((mm.astype(np.float32) - NEAR_MM) / (FAR_MM - NEAR_MM), 0.0, 1.0)
    rgb = np.stack([1.0 - t, 1.0 - np.abs(2.0 * t - 1.0), t], axis=-1) * 255.0
    rgb[mm == 0] = 0.0
    return rgb.astype(np.uint8)


def _save(image: Image.Image, kind: str, **options: int) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()
