"""The KinectService: one servicer assembled from one class per resource of the contract, so
each module holds the handlers of one resource."""

from __future__ import annotations

from services.kinect.rpcs.devices import DeviceRpcs
from services.kinect.rpcs.frames import FrameRpcs
from services.kinect.rpcs.snapshots import SnapshotRpcs


class KinectServicer(DeviceRpcs, FrameRpcs, SnapshotRpcs):
    """Depth and RGB frames, tilt and LED of the Kinects of the chosen source."""
