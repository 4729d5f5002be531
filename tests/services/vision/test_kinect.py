"""An image by reference to a Kinect: the vision service asks the real kinect service (in
process, on its synthetic scene: no Kinect is attached here) for the device's current colour
frame over gRPC, with its own identity on behalf of the caller, and analyses it."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from services.kinect.service import SPEC as KINECT
from services.kinect.settings import KinectSettings
from services.vision import peers
from tests.fixtures.tokens import TokenFactory
from tests.services.vision.conftest import User, failure, start_vision, vision_settings
from voka.server import start
from voka.service_identity import ServiceIdentity
from voka.vision.v1 import vision_pb2, vision_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture
def identity(tokens: TokenFactory) -> Iterator[None]:
    """The vision service's identity as auth's IssueServiceToken would give it."""

    async def issue(service: str, secret: str) -> tuple[str, float]:
        token = tokens.mint(subject=f"services/{service}", roles=("service",), ttl=300)
        return token, time.time() + 300

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(peers, "own_identity", lambda _: ServiceIdentity("vision", "t", issue))
        yield


@pytest.fixture
async def user(identity: None, tokens: TokenFactory, tmp_path: Path) -> AsyncIterator[User]:
    kinect_settings = KinectSettings(
        service="kinect",
        port=0,
        data_dir=tmp_path / "kinect",
        jwks_file=tokens.jwks_file,
        kinect_source="synthetic",
    )
    kinect = await start(dataclasses.replace(KINECT, bus=False), kinect_settings)
    settings = vision_settings(
        tokens, tmp_path / "vision", addresses={"kinect": f"127.0.0.1:{kinect.port}"}
    )
    vision = await start_vision(settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{vision.port}") as channel:
        yield User(vision_pb2_grpc.VisionServiceStub(channel), tokens.metadata())
    await vision.stop()
    await kinect.stop()


async def test_a_kinect_frame_is_analysed(user: User) -> None:
    request = vision_pb2.AnalyzeImageRequest(kinect_device="devices/0")
    analysis = (await user.AnalyzeImage(request)).analysis
    assert analysis.source == vision_pb2.IMAGE_SOURCE_KINECT
    assert analysis.kinect_device == "devices/0"
    assert (analysis.content_type, analysis.width, analysis.height) == ("image/png", 640, 480)
    assert analysis.caption.engine == "composed-from-labels"
    hands = vision_pb2.DetectHandsRequest(kinect_device="devices/0")
    assert (await user.DetectHands(hands)).analysis.source == vision_pb2.IMAGE_SOURCE_KINECT


async def test_a_missing_device_is_the_kinect_services_refusal(user: User) -> None:
    request = vision_pb2.AnalyzeImageRequest(kinect_device="devices/7")
    details = await failure(user.AnalyzeImage(request), grpc.StatusCode.FAILED_PRECONDITION)
    assert "the kinect service refused" in details


async def test_without_the_kinect_service_it_is_unavailable(
    identity: None, tokens: TokenFactory, tmp_path: Path
) -> None:
    settings = vision_settings(tokens, tmp_path, addresses={"kinect": "127.0.0.1:9"})
    vision = await start_vision(settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{vision.port}") as channel:
        user = User(vision_pb2_grpc.VisionServiceStub(channel), tokens.metadata())
        request = vision_pb2.AnalyzeImageRequest(kinect_device="devices/0")
        details = await failure(user.AnalyzeImage(request), grpc.StatusCode.UNAVAILABLE)
        assert "the kinect service is unavailable" in details
    await vision.stop()
