"""The kinect service's settings: the kit's, plus where frames come from and how streams behave.

The defaults work on a machine with no Kinect: `auto` uses a real device when libfreenect sees
one, else the configured recording, else the synthetic scene.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from voka.config import Settings

Source = Literal["auto", "hardware", "recorded", "synthetic"]


class KinectSettings(Settings):
    """`VOKA_KINECT_*` variables on top of the shared ones."""

    kinect_source: Source = Field(
        default="auto",
        description="Where frames come from: auto (a Kinect when libfreenect finds one, else "
        "the recording when one is set, else synthetic), hardware (a Kinect or refuse to "
        "start), recorded, synthetic.",
    )
    kinect_recording: Path | None = Field(
        default=None,
        description="A libfreenect `record` dump (INDEX.txt, d-*.pgm, r-*.ppm, a-*.dump), "
        "replayed through Debian's fakenect; `python -m services.kinect.dump DIR` writes one.",
    )
    kinect_fakenect_library: Path = Field(
        default=Path("/usr/lib/x86_64-linux-gnu/fakenect/libfreenect.so.0.5"),
        description="Debian's fakenect build of libfreenect (package libfreenect0.5).",
    )
    kinect_max_fps: int = Field(
        default=30, description="Frames per second captured per camera, at most."
    )
    kinect_max_streams: int = Field(
        default=8, description="StreamFrames calls open at once; more is RESOURCE_EXHAUSTED."
    )
    kinect_max_streams_per_user: int = Field(
        default=2,
        description="StreamFrames calls one user (with its API keys) may hold open at once, so "
        "nobody takes every slot; more is RESOURCE_EXHAUSTED.",
    )
    kinect_stream_buffer: int = Field(
        default=2,
        description="Frames waiting per stream for a slow reader; older ones are dropped "
        "(a gap in `sequence`).",
    )
    kinect_capture_timeout_seconds: float = Field(
        default=3.0,
        description="How long a frame or motor command may take before the device is "
        "considered gone (the capture process is restarted on the next call).",
    )
