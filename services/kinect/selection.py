"""Which frame source the service runs, chosen once at start from `VOKA_KINECT_SOURCE`.

libfreenect is always probed (in a capture process), so GetStatus can say whether the driver
loads and why no hardware is used even when configuration forces a stand-in.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from services.kinect import dump, shim
from services.kinect.camera import Camera
from services.kinect.process_camera import CaptureProcess, ProcessCamera, launch_env
from services.kinect.settings import KinectSettings
from services.kinect.synthetic import SyntheticCamera

REPLAY_SLACK = 0.5  # beyond the recording's longest pause, a replay is taken to have ended


@dataclass(frozen=True)
class Selection:
    """The chosen source and what GetStatus reports about the choice."""

    camera: Camera
    driver_available: bool
    fallback_reason: str  # empty when a Kinect is used


async def select(settings: KinectSettings) -> Selection:
    """The configured source; a misconfiguration (no Kinect for `hardware`, a recording that is
    not one) stops the start rather than quietly serving something else."""
    timeout = settings.kinect_capture_timeout_seconds
    env = launch_env()
    probe = await CaptureProcess.start(env, timeout)
    available = bool(probe.hello.get("driver"))
    found = len(probe.hello.get("serials", []))
    wanted = settings.kinect_source
    if wanted in ("auto", "hardware") and found:
        return Selection(ProcessCamera(probe, env, timeout), available, "")
    await probe.kill()
    if wanted == "hardware":
        raise RuntimeError(f"VOKA_KINECT_SOURCE=hardware but {_no_hardware(probe)}")
    reason = f"configured: VOKA_KINECT_SOURCE={wanted}" if wanted != "auto" else _no_hardware(probe)
    if wanted == "recorded" or (wanted == "auto" and settings.kinect_recording is not None):
        return Selection(await _replay(settings), available, reason)
    return Selection(SyntheticCamera(), available, reason)


def _no_hardware(probe: CaptureProcess) -> str:
    if not probe.hello.get("driver"):
        return f"libfreenect cannot be loaded ({probe.hello.get('error')})"
    return "no Kinect found (libfreenect sees 0 devices)"


async def _replay(settings: KinectSettings) -> ProcessCamera:
    recording = settings.kinect_recording
    if recording is None:
        raise RuntimeError("VOKA_KINECT_SOURCE=recorded needs VOKA_KINECT_RECORDING")
    dump.check(recording)
    if not settings.kinect_fakenect_library.exists():
        raise RuntimeError(f"fakenect not found at {settings.kinect_fakenect_library}")
    built = await asyncio.to_thread(shim.build, settings.data_dir / "kinect")
    env = launch_env([settings.kinect_fakenect_library, built], recording)
    timeout = min(
        settings.kinect_capture_timeout_seconds, dump.longest_gap(recording) + REPLAY_SLACK
    )
    process = await CaptureProcess.start_loaded(env, timeout)
    return ProcessCamera(process, env, timeout, recording.resolve())
