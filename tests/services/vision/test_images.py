"""AnalyzeImage and DetectHands on real photos that ship in packages, with the local engines:
the cat is a Cat, the coffee a Coffee cup, the open hand one hand of 21 landmarks; the caption
says it was composed from labels. What is not an image within bounds is INVALID_ARGUMENT on
`body`, and the service answers the next call."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from pathlib import Path

import grpc
import pytest
from PIL import Image

from tests.fixtures.tokens import TokenFactory
from tests.services.vision.conftest import (
    User,
    body,
    cat_photo,
    coffee_photo,
    failure,
    hand_photo,
    start_vision,
    violations,
    vision_settings,
)
from voka.vision.v1 import vision_pb2, vision_pb2_grpc

pytestmark = pytest.mark.integration


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims `width` x `height` (a decompression bomb's shape): a
    valid IHDR, one small IDAT and IEND; decoding it would allocate width x height x 3 bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(
        b"IEND", b"")  # fmt: skip


async def analyze(user: User, data: bytes, **options: object) -> vision_pb2.Analysis:
    request = vision_pb2.AnalyzeImageRequest(body=body(data), **options)  # type: ignore[arg-type]
    analysis: vision_pb2.Analysis = (await user.AnalyzeImage(request)).analysis
    return analysis


async def test_a_cat_photo_shows_a_cat(alice: User) -> None:
    analysis = await analyze(alice, cat_photo())
    assert analysis.objects[0].label == "Cat"
    assert analysis.objects[0].score > 0.7
    box = analysis.objects[0].box
    assert 0 <= box.left < box.left + box.width <= 1
    assert 0 <= box.top < box.top + box.height <= 1
    assert any("cat" in label.label for label in analysis.labels)
    assert analysis.object_engine == "local/ssd-mobilenet-v2-oid"
    assert analysis.label_engine == "local/efficientnet-lite0"
    assert analysis.caption.engine == "composed-from-labels"
    assert analysis.caption.text.startswith("Composed from labels (no captioning model)")
    assert "cat" in analysis.caption.text
    assert (analysis.content_type, analysis.width, analysis.height) == ("image/jpeg", 451, 300)
    assert analysis.kind == vision_pb2.ANALYSIS_KIND_IMAGE
    assert analysis.source == vision_pb2.IMAGE_SOURCE_UPLOAD
    assert analysis.owner == "users/alice"


async def test_a_coffee_photo_shows_a_cup(alice: User) -> None:
    analysis = await analyze(alice, coffee_photo(), max_results=3)
    assert "Coffee cup" in [o.label for o in analysis.objects]
    assert analysis.labels[0].label == "espresso"
    assert len(analysis.labels) <= 3


async def test_an_open_hand_is_one_hand_of_21_landmarks(alice: User) -> None:
    request = vision_pb2.DetectHandsRequest(body=body(hand_photo()))
    analysis = (await alice.DetectHands(request)).analysis
    assert len(analysis.hands) == 1
    hand = analysis.hands[0]
    assert len(hand.landmarks) == 21
    assert hand.handedness in {"Left", "Right"}
    assert hand.gesture  # one of the packaged classifier's own labels
    assert all(0 <= p.x <= 1 and 0 <= p.y <= 1 for p in hand.landmarks)
    assert analysis.hand_engine == "local/mediapipe-gesture-recognizer"
    assert analysis.kind == vision_pb2.ANALYSIS_KIND_HANDS


async def test_no_hand_in_a_cat_photo(alice: User) -> None:
    request = vision_pb2.DetectHandsRequest(body=body(cat_photo()))
    assert not (await alice.DetectHands(request)).analysis.hands


def corrupt_jpeg() -> bytes:
    data = cat_photo()
    return data[:600] + b"\x00" * 64  # a JPEG header, then nothing that decodes


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (corrupt_jpeg(), "does not decode as image/jpeg"),
        (b"%PDF-1.7 not a picture at all", "is not an image"),
        (png_header(20_000, 20_000), "pixels, more than the 40000000 allowed"),
        (png_header(8_000, 6_000), "declares 8000 x 6000 pixels, more than the 40000000 allowed"),
        (b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024), "more than the 10485760 allowed"),
        (b"", "is empty"),
    ],
    ids=["corrupt", "not-an-image", "decompression-bomb", "over-max-pixels", "oversized", "empty"],
)
async def test_what_is_no_image_within_bounds_is_refused(
    alice: User, data: bytes, words: str
) -> None:
    (found,) = await violations(analyze(alice, data))
    assert found[0] == "body"
    assert words in found[1]
    (found,) = await violations(alice.DetectHands(vision_pb2.DetectHandsRequest(body=body(data))))
    assert words in found[1]
    tiny = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(tiny, format="PNG")
    assert (await analyze(alice, tiny.getvalue())).width == 32  # still answering


async def test_options_are_checked_field_by_field(alice: User) -> None:
    request = vision_pb2.AnalyzeImageRequest(
        body=body(coffee_photo()), kinect_device="devices/0", max_results=51, min_score=2
    )
    assert {f for f, _ in await violations(alice.AnalyzeImage(request))} == {
        "kinect_device", "max_results", "min_score"}  # fmt: skip
    request = vision_pb2.AnalyzeImageRequest(kinect_device="cameras/front")
    assert [f for f, _ in await violations(alice.AnalyzeImage(request))] == ["kinect_device"]
    hands = vision_pb2.DetectHandsRequest(body=body(coffee_photo()), max_hands=5)
    assert [f for f, _ in await violations(alice.DetectHands(hands))] == ["max_hands"]


async def test_anonymous_callers_are_refused(stub) -> None:  # type: ignore[no-untyped-def]
    request = vision_pb2.AnalyzeImageRequest(body=body(coffee_photo()))
    await failure(stub.AnalyzeImage(request), grpc.StatusCode.UNAUTHENTICATED)


async def test_overload_is_refused_and_the_service_recovers(
    tokens: TokenFactory, tmp_path: Path
) -> None:
    """One worker, no queue: one image in progress at most; the others are refused at once."""
    settings = vision_settings(tokens, tmp_path, vision_workers=1, vision_queue_size=0)
    running = await start_vision(settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        user = User(vision_pb2_grpc.VisionServiceStub(channel), tokens.metadata())
        photo = coffee_photo()
        await analyze(user, photo)  # warm: the models load once
        outcomes = await asyncio.gather(*(analyze(user, photo) for _ in range(4)),
                                        return_exceptions=True)  # fmt: skip
        refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
        assert refused
        assert all(
            e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "busy" in (e.details() or "")
            for e in refused
        )
        assert len(refused) < 4
        assert (await analyze(user, photo)).objects  # still answering
    await running.stop()
