"""The kinect service as the vision service calls it: the current colour frame of a device,
as a PNG snapshot. Calls carry the vision service's own identity (`voka.service_identity`)
and name the user they are for (`voka.peer_calls.on_behalf_of`), so the kinect service counts
them against that user; its refusals and its absence reach the caller through
`peer_calls.answering`, naming the kinect service."""

from __future__ import annotations

import functools

from google.api import httpbody_pb2

from services.vision.settings import VisionSettings
from voka import errors, peer_calls, service_identity
from voka.kinect.v1 import kinect_pb2, kinect_pb2_grpc
from voka.service_identity import ServiceIdentity

SERVICE = "vision"


def own_identity(settings: VisionSettings) -> ServiceIdentity | None:
    """The identity configured by VOKA_SERVICE_SECRET (traded at the auth service)."""
    return service_identity.from_env(SERVICE, settings.address_of("auth"))


class Kinect:
    """Snapshots from the kinect service on a channel carrying the vision service's identity."""

    def __init__(self, settings: VisionSettings, identity: ServiceIdentity | None) -> None:
        self._timeout = settings.vision_kinect_timeout_seconds
        self._channels = service_identity.PeerChannels(settings, identity)

    async def colour_frame(self, device: str, for_user: str) -> bytes:
        """The device's current RGB frame as PNG bytes."""
        try:
            channel = self._channels.channel("kinect")
        except service_identity.NoIdentityError as exc:
            raise errors.unavailable(f"cannot call the kinect service: {exc}") from exc
        stub = kinect_pb2_grpc.KinectServiceStub(channel)
        request = kinect_pb2.GetSnapshotRequest(
            name=device, type=kinect_pb2.FRAME_TYPE_RGB, format=kinect_pb2.FRAME_FORMAT_PNG
        )
        rpc = functools.partial(stub.GetSnapshot, metadata=peer_calls.on_behalf_of(for_user))
        with peer_calls.answering("kinect"):
            body: httpbody_pb2.HttpBody = await peer_calls.call(rpc, request, timeout=self._timeout)
        return body.data

    async def close(self) -> None:
        await self._channels.close()
