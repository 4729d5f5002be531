"""The service's side of the capture process (capture.py): libfreenect frames and motor over
pipes, every call under a deadline, the process restarted after it failed or was killed.

The same class serves a real Kinect and a fakenect replay; only the process's environment
differs (`launch_env`). Debian's fakenect 0.5.3 plays a recording once and then leaves the sync
wrapper waiting forever, so for a replay a capture that times out restarts the process and
tries again: the recording loops, with a pause of about `timeout` at each turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from services.kinect import wire
from services.kinect.camera import CaptureError, DeviceInfo, Motor
from services.kinect.frames import (
    HEIGHT,
    WIDTH,
    FrameSource,
    FrameType,
    LedState,
    Pixels,
    RawFrame,
    TiltStatus,
)
from voka.kinect.v1 import kinect_pb2

ROOT = Path(__file__).resolve().parents[2]  # the capture process imports services.kinect.wire
HARDWARE_MODEL = "Kinect for Xbox 360"
REPLAY_MODEL = "Recorded Kinect (fakenect replay)"
START_TIMEOUT = 30.0  # importing numpy and libfreenect on a loaded two-core machine
# libfreenect's tilt status codes -> the contract's.
TILT_STATUS: dict[int, TiltStatus] = {
    0x00: kinect_pb2.TILT_STATUS_STOPPED,
    0x01: kinect_pb2.TILT_STATUS_AT_LIMIT,
    0x04: kinect_pb2.TILT_STATUS_MOVING,
}


def launch_env(preload: list[Path] | None = None, recording: Path | None = None) -> dict[str, str]:
    """The capture process's environment: ours, plus fakenect and the shim preloaded and the
    recording named when replaying."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    if preload:
        env["LD_PRELOAD"] = ":".join(str(p) for p in preload)
    if recording is not None:
        env["FAKENECT_PATH"] = str(recording)
    return env


class CaptureProcess:
    """One running capture process; calls are strictly one at a time."""

    def __init__(self, process: asyncio.subprocess.Process, limit: float) -> None:
        self._process = process
        self._limit = limit
        self._lock = asyncio.Lock()
        self.hello: wire.Header = {}

    @classmethod
    async def start(cls, env: Mapping[str, str], limit: float) -> CaptureProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.kinect.capture",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=dict(env),
        )  # fmt: skip
        started = cls(process, limit)
        started.hello = await started._read(START_TIMEOUT)
        return started

    @classmethod
    async def start_loaded(cls, env: Mapping[str, str], limit: float) -> CaptureProcess:
        """A capture process whose libfreenect loaded, or CaptureError saying why not."""
        process = await cls.start(env, limit)
        if not process.hello.get("driver"):
            await process.kill()
            raise CaptureError(f"libfreenect cannot be loaded: {process.hello.get('error')}")
        return process

    async def call(self, op: str, **args: Any) -> tuple[wire.Header, bytes]:
        async with self._lock:
            if self._process.returncode is not None or self._process.stdin is None:
                raise CaptureError("the capture process has exited")
            self._process.stdin.write(wire.request(op, **args))
            header, payload = await self._read_with_payload(self._limit)
        if "error" in header:
            raise CaptureError(header["error"])
        return header, payload

    async def _read(self, limit: float) -> wire.Header:
        return (await self._read_with_payload(limit))[0]

    async def _read_with_payload(self, limit: float) -> tuple[wire.Header, bytes]:
        """A reply, or the process killed: a reply left half read would shift every later one."""
        assert self._process.stdout is not None
        try:
            async with asyncio.timeout(limit):
                return await wire.read_reply(self._process.stdout)
        except BaseException as exc:
            await self.kill()
            if isinstance(exc, TimeoutError):
                raise CaptureError(f"libfreenect did not answer within {limit:g} s") from exc
            if isinstance(exc, asyncio.IncompleteReadError):
                raise CaptureError("the capture process exited") from exc
            raise

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        await self._process.wait()


class ProcessCamera:
    """A Kinect (or its fakenect replay) driven through a capture process."""

    def __init__(
        self,
        process: CaptureProcess,
        env: Mapping[str, str],
        timeout: float,
        recording: Path | None = None,
    ) -> None:
        self._process: CaptureProcess | None = process
        self._env = env
        self._timeout = timeout
        self._recording = recording
        self._tilt: dict[int, float] = {}  # a replay's motor does not move: what was asked
        self._devices = self._describe(process.hello)

    def _describe(self, hello: wire.Header) -> list[DeviceInfo]:
        if self._recording is not None:
            return [DeviceInfo(f"recorded:{self._recording}", REPLAY_MODEL)]
        return [DeviceInfo(serial, HARDWARE_MODEL) for serial in hello.get("serials", [])]

    @property
    def source(self) -> FrameSource:
        return (
            kinect_pb2.FRAME_SOURCE_HARDWARE
            if self._recording is None
            else kinect_pb2.FRAME_SOURCE_RECORDED
        )

    @property
    def devices(self) -> list[DeviceInfo]:
        return self._devices

    async def capture(self, index: int, frame_type: FrameType) -> RawFrame:
        depth = frame_type == kinect_pb2.FRAME_TYPE_DEPTH
        header, payload = await self._call("depth" if depth else "video", index=index)
        if depth:
            pixels: Pixels = np.frombuffer(payload, "<u2").astype(np.uint16).reshape(HEIGHT, WIDTH)
        else:
            pixels = np.frombuffer(payload, np.uint8).reshape(HEIGHT, WIDTH, 3)
        return RawFrame(frame_type, pixels, int(header["timestamp"]), datetime.now(UTC))

    async def set_tilt(self, index: int, degrees: float) -> None:
        await self._call("tilt", index=index, degrees=degrees)
        self._tilt[index] = degrees

    async def set_led(self, index: int, led: LedState) -> None:
        await self._call("led", index=index, led=led)

    async def motor(self, index: int) -> Motor:
        header, _ = await self._call("motor", index=index)
        accel = (float(header["accel"][0]), float(header["accel"][1]), float(header["accel"][2]))
        if self._recording is not None and index in self._tilt:  # a stand-in takes the angle
            return Motor(self._tilt[index], kinect_pb2.TILT_STATUS_STOPPED, accel)
        status = TILT_STATUS.get(int(header["status"]), kinect_pb2.TILT_STATUS_UNSPECIFIED)
        return Motor(float(header["tilt"]), status, accel)

    async def _call(self, op: str, **args: Any) -> tuple[wire.Header, bytes]:
        """One call; for a replay that reached its end, a second one on a fresh process."""
        try:
            return await self._call_once(op, **args)
        except CaptureError:
            if self._recording is None:
                raise
            return await self._call_once(op, **args)

    async def _call_once(self, op: str, **args: Any) -> tuple[wire.Header, bytes]:
        """One call on the live process (started first when the last one failed)."""
        process = self._process or await self._restart()
        try:
            return await process.call(op, **args)
        except CaptureError:
            await process.kill()
            self._process = None
            raise

    async def _restart(self) -> CaptureProcess:
        self._process = await CaptureProcess.start_loaded(self._env, self._timeout)
        return self._process

    async def close(self) -> None:
        if self._process is not None:
            await self._process.kill()
            self._process = None
