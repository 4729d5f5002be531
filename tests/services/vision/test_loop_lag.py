"""No vision RPC holds the event loop longer than 50 ms (issue 16, item 3): decoding and every
local model run in the worker threads, the history's reads and writes are async; the refusals
of bad images too, and the kit's RPCs. The models are warmed first (their first load is in a
worker as well, but would make the phase slow, not the loop)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.fixtures.tokens import TokenFactory
from tests.services.loop_lag import Phase, assert_loop_free
from tests.services.vision.conftest import (
    body,
    cat_photo,
    hand_photo,
    start_vision,
    vision_settings,
)
from voka.server import Running
from voka.vision.v1 import vision_pb2, vision_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """Queue room for the phases' calls in flight (overload is the refusal test's subject)."""
    data: Path = tmp_path_factory.mktemp("data")
    running = await start_vision(vision_settings(tokens, data, vision_queue_size=16))
    yield running
    await running.stop()


async def test_no_vision_rpc_holds_the_event_loop(service: Running, tokens: TokenFactory) -> None:
    me = tokens.metadata(subject="users/loop-lag")
    admin = tokens.metadata(subject="users/loop-lag-admin", roles=("admin",))
    cat, hand = cat_photo(), hand_photo()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        stub = vision_pb2_grpc.VisionServiceStub(channel)

        def analyze(data: bytes) -> Awaitable[Any]:
            return stub.AnalyzeImage(vision_pb2.AnalyzeImageRequest(body=body(data)), metadata=me)

        def hands() -> Awaitable[Any]:
            request = vision_pb2.DetectHandsRequest(body=body(hand))
            return stub.DetectHands(request, metadata=me)

        async def refused() -> None:
            with pytest.raises(grpc.aio.AioRpcError, match="INVALID_ARGUMENT"):
                await analyze(b"\x89PNG\r\n\x1a\n broken")

        first = (await analyze(cat)).analysis
        await hands()  # warm: the models load once
        get = vision_pb2.GetAnalysisRequest(name=first.name)
        phases = [
            Phase("AnalyzeImage", lambda: analyze(cat), calls=4, in_flight=2),
            Phase("DetectHands", hands, calls=4, in_flight=2),
            Phase("AnalyzeImage refused", refused, calls=8, in_flight=4),
            Phase("GetAnalysis", lambda: stub.GetAnalysis(get, metadata=me)),
            Phase("ListAnalyses", lambda: stub.ListAnalyses(
                vision_pb2.ListAnalysesRequest(), metadata=me)),
        ]  # fmt: skip
        await assert_loop_free("vision", service.port, admin, phases)
