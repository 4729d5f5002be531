"""`python -m services.kinect.capture`: libfreenect in a process of its own (the real adapter).

Why a process: libfreenect's sync wrapper blocks in C with no timeout (an unplugged Kinect, or
a fakenect replay that reached its end, never returns), libfreenect prints to stdout, and
whether it binds to the real library or to fakenect is fixed when the process loads it
(`LD_PRELOAD`). The service talks to this process over pipes (wire.py) and kills it when a call
outlives its deadline.

Frames come from the PyPI `freenect` binding (`sync_get_depth`, `sync_get_video`); the motor,
LED and accelerometer from the same libfreenect_sync through ctypes, because the binding only
offers them on a device handle that would fight the sync wrapper for the USB device.
No Kinect was ever attached where this was written: the hardware branch is libfreenect's own
API used as documented, tested here only through fakenect.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import sys
from typing import Any

from services.kinect import wire

SYNC_LIBRARY = "libfreenect_sync.so.0.5"
LIBRARY = "libfreenect.so.0.5"  # under LD_PRELOAD, fakenect's (same soname)
HARDWARE_MODEL = "Kinect for Xbox 360"


class TiltState(ctypes.Structure):
    """libfreenect's freenect_raw_tilt_state."""

    _fields_ = (
        ("accelerometer_x", ctypes.c_int16),
        ("accelerometer_y", ctypes.c_int16),
        ("accelerometer_z", ctypes.c_int16),
        ("tilt_angle", ctypes.c_int8),
        ("tilt_status", ctypes.c_int),
    )


class Attributes(ctypes.Structure):
    """libfreenect's freenect_device_attributes (a linked list of serials)."""


Attributes._fields_ = (
    ("next", ctypes.POINTER(Attributes)),
    ("camera_serial", ctypes.c_char_p),
)


class Freenect:
    """libfreenect's sync API, one call at a time."""

    def __init__(self) -> None:
        self._binding: Any = importlib.import_module("freenect")
        self._sync = ctypes.CDLL(SYNC_LIBRARY)
        self._lib = ctypes.CDLL(LIBRARY)
        self._lib.freenect_get_tilt_degs.restype = ctypes.c_double

    def hello(self, replay: bool) -> wire.Header:
        """The devices: a replay is always one; hardware is what libusb enumerates."""
        if replay:
            return {"driver": True, "serials": [""]}
        return {"driver": True, "serials": self._serials()}

    def _serials(self) -> list[str]:
        context = ctypes.c_void_p()
        if self._lib.freenect_init(ctypes.byref(context), None) < 0:
            return []
        try:
            count = self._lib.freenect_num_devices(context)
            head = ctypes.POINTER(Attributes)()
            self._lib.freenect_list_device_attributes(context, ctypes.byref(head))
            serials, node = [], head
            while node:
                serials.append((node.contents.camera_serial or b"").decode())
                node = node.contents.next
            self._lib.freenect_free_device_attributes(head)
        finally:
            self._lib.freenect_shutdown(context)
        return (serials + [""] * count)[: max(count, 0)]

    def depth(self, index: int) -> tuple[wire.Header, bytes]:
        got = self._binding.sync_get_depth(index, self._binding.DEPTH_11BIT)
        if got is None:
            return {"error": f"libfreenect gave no depth frame for device {index}"}, b""
        pixels, timestamp = got
        return {"timestamp": int(timestamp)}, pixels.astype("<u2").tobytes()

    def video(self, index: int) -> tuple[wire.Header, bytes]:
        got = self._binding.sync_get_video(index, self._binding.VIDEO_RGB)
        if got is None:
            return {"error": f"libfreenect gave no RGB frame for device {index}"}, b""
        pixels, timestamp = got
        return {"timestamp": int(timestamp)}, pixels.tobytes()

    def tilt(self, index: int, degrees: float) -> tuple[wire.Header, bytes]:
        # The sync wrapper takes whole degrees.
        return self._status(self._sync.freenect_sync_set_tilt_degs(round(degrees), index))

    def led(self, index: int, led: int) -> tuple[wire.Header, bytes]:
        return self._status(self._sync.freenect_sync_set_led(led, index))

    def motor(self, index: int) -> tuple[wire.Header, bytes]:
        state = ctypes.POINTER(TiltState)()
        if self._sync.freenect_sync_get_tilt_state(ctypes.byref(state), index) < 0:
            return {"error": f"libfreenect cannot read device {index}'s motor"}, b""
        x, y, z = ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        self._lib.freenect_get_mks_accel(state, *(ctypes.byref(v) for v in (x, y, z)))
        degrees = self._lib.freenect_get_tilt_degs(state)
        header = {
            "tilt": degrees,
            "status": state.contents.tilt_status,
            "accel": [x.value, y.value, z.value],
        }
        return header, b""

    @staticmethod
    def _status(code: int) -> tuple[wire.Header, bytes]:
        return ({"error": f"libfreenect answered {code}"} if code < 0 else {}), b""


def _handle(driver: Freenect, request: dict[str, Any]) -> tuple[wire.Header, bytes]:
    op, index = request["op"], int(request.get("index", 0))
    if op == "depth":
        return driver.depth(index)
    if op == "video":
        return driver.video(index)
    if op == "tilt":
        return driver.tilt(index, float(request["degrees"]))
    if op == "led":
        return driver.led(index, int(request["led"]))
    if op == "motor":
        return driver.motor(index)
    return {"error": f"unknown op {op!r}"}, b""


def main() -> None:
    """Answer requests until stdin closes. The first reply says whether libfreenect loaded."""
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # libfreenect and fakenect printf to stdout: keep it out of the protocol
    replay = "FAKENECT_PATH" in os.environ
    try:
        driver = Freenect()
    except (ImportError, OSError) as exc:
        out.write(wire.reply({"driver": False, "error": f"{type(exc).__name__}: {exc}"}))
        return
    out.write(wire.reply(driver.hello(replay)))
    for line in sys.stdin.buffer:
        header, payload = _handle(driver, json.loads(line))
        out.write(wire.reply(header, payload))


if __name__ == "__main__":
    main()
