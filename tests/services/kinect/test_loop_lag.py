"""No kinect RPC holds the event loop longer than 50 ms (issue 16, item 3): the status and the
device list, the device driven (tilt, LED), a snapshot, a frame stream's first frames and the
kit's RPCs, on the synthetic scene."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest

from services.kinect.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.kinect.conftest import settings_for
from tests.services.loop_lag import Phase, assert_loop_free
from tools.processes import NatsServer
from voka.kinect.v1 import kinect_pb2, kinect_pb2_grpc
from voka.server import Running, start

pytestmark = pytest.mark.integration
FRAMES = 3  # of a stream, per call


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """On the synthetic scene, the per-user rate limit lifted (the phases call as one user)."""
    data = tmp_path_factory.mktemp("data")
    running = await start(SPEC, settings_for(tokens, nats, data, rate_limit_per_second=0))
    yield running
    await running.stop()


async def test_no_kinect_rpc_holds_the_event_loop(service: Running, tokens: TokenFactory) -> None:
    me = tokens.metadata(subject="users/loop-lag")
    operator = tokens.metadata(subject="users/loop-lag-operator", roles=("operator",))
    admin = tokens.metadata(subject="users/loop-lag-admin", roles=("admin",))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = kinect_pb2_grpc.KinectServiceStub(channel)

        async def first_frames() -> None:
            request = kinect_pb2.StreamFramesRequest(fps=30, max_frames=FRAMES)
            async for _ in stub.StreamFrames(request, metadata=operator):
                pass

        phases = [
            Phase("GetStatus", lambda: stub.GetStatus(kinect_pb2.GetStatusRequest(), metadata=me)),
            Phase("ListDevices", lambda: stub.ListDevices(
                kinect_pb2.ListDevicesRequest(), metadata=me)),
            Phase("GetDevice", lambda: stub.GetDevice(
                kinect_pb2.GetDeviceRequest(name="devices/0"), metadata=me)),
            Phase("SetTilt", lambda: stub.SetTilt(
                kinect_pb2.SetTiltRequest(tilt_degrees=5), metadata=operator)),
            Phase("SetLed", lambda: stub.SetLed(
                kinect_pb2.SetLedRequest(led=kinect_pb2.LED_STATE_GREEN), metadata=operator)),
            Phase("GetSnapshot", lambda: stub.GetSnapshot(
                kinect_pb2.GetSnapshotRequest(), metadata=me), calls=8, in_flight=2),
            Phase("StreamFrames", first_frames, calls=2, in_flight=2),
        ]  # fmt: skip
        await assert_loop_free("kinect", service.port, admin, phases, database=False)
