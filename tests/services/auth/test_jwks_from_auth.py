"""Another service, started with no JWKS file, verifies tokens the real auth service issued."""

from __future__ import annotations

import grpc
import pytest

from services.kinect.service import SPEC as KINECT
from tests.services.auth.conftest import bearer, signed_up
from tools.processes import free_ports
from voka.config import Settings
from voka.kinect.v1 import kinect_pb2, kinect_pb2_grpc
from voka.server import Running, start

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_kinect_accepts_a_login_token_and_refuses_a_forged_one(auth: Running, stub, tmp_path):
    settings = Settings(
        service="kinect",
        port=free_ports(1)[0],
        data_dir=tmp_path,
        addresses={"auth": f"127.0.0.1:{auth.port}"},
        nats_url=auth.resources.settings.nats_url,
    )
    kinect = await start(KINECT, settings)
    try:
        login = await signed_up(stub)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{kinect.port}") as channel:
            client = kinect_pb2_grpc.KinectServiceStub(channel)
            status = await client.GetStatus(
                kinect_pb2.GetStatusRequest(), metadata=bearer(login.access_token)
            )
            assert status.device_count == 1  # past the identity check: the stand-in answers
            forged = login.access_token[:-4] + "AAAA"
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.GetStatus(kinect_pb2.GetStatusRequest(), metadata=bearer(forged))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await kinect.stop()
