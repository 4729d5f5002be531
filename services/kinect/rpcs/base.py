"""What every KinectService RPC shares: the devices, the hub sharing their capture loops, and
the frame-rate ceiling.

Every handler checks its caller first (the contract makes them all ACCESS_AUTHENTICATED; the
kit has refused anonymous calls already, `authn.caller()` makes the handler's dependence on it
explicit).
"""

from __future__ import annotations

from typing import Any

import grpc

from services.kinect.devices import Devices
from services.kinect.hub import FrameHub
from voka.kinect.v1 import kinect_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class KinectRpcs(kinect_pb2_grpc.KinectServiceServicer):
    """The shared state of the KinectService RPCs (one resource per subclass)."""

    def __init__(self, devices: Devices, hub: FrameHub, max_fps: int) -> None:
        self._devices = devices
        self._hub = hub
        self._max_fps = max_fps
