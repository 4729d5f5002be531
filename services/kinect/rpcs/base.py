"""What every KinectService RPC shares: the devices, the hub sharing their capture loops, the
frame-rate ceiling, and who may drive the device.

Every handler checks its caller first (the contract makes them all ACCESS_AUTHENTICATED; the
kit has refused anonymous calls already, `authn.caller()` makes the handler's dependence on it
explicit). Looking (status, devices, snapshots) is for any signed-in user; what moves the motor,
lights the LED or holds a capture loop open (frame streams) is for operators: a user an admin
gave the `operator` role, or an admin.
"""

from __future__ import annotations

from typing import Any

import grpc

from services.kinect.devices import Devices
from services.kinect.hub import FrameHub
from voka import authn, errors
from voka.kinect.v1 import kinect_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
# The role, in an access token's `roles`, of users who may drive the device (auth grants it).
OPERATOR_ROLE = "operator"


def operator() -> authn.Identity:
    """The caller, when it may drive the device (operator or admin); PERMISSION_DENIED else."""
    identity = authn.caller()
    if not (identity.is_admin or OPERATOR_ROLE in identity.roles):
        raise errors.permission_denied(
            f"tilt, LED and frame streams need the {OPERATOR_ROLE} role (an admin grants it)"
        )
    return identity


class KinectRpcs(kinect_pb2_grpc.KinectServiceServicer):
    """The shared state of the KinectService RPCs (one resource per subclass)."""

    def __init__(self, devices: Devices, hub: FrameHub, max_fps: int) -> None:
        self._devices = devices
        self._hub = hub
        self._max_fps = max_fps
