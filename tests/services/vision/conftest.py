"""Shared fixtures and helpers of the vision tests: the real service in process over gRPC (its
history on SQLite, or on SQLite and PostgreSQL where a test takes `database_url`), real photos
that ship in packages (scikit-image's cat and coffee cup, Debian opencv-doc's open hand), and
checks of error answers."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
import skimage.data
from google.api import httpbody_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from services.vision.service import SPEC
from services.vision.settings import VisionSettings
from tests.fixtures.callers import User
from tests.fixtures.tokens import TokenFactory
from voka.server import Running, start
from voka.vision.v1 import vision_pb2_grpc

ROOT = Path(__file__).resolve().parents[3]
MODELS = ROOT / "var" / "models" / "vision"  # scripts/bootstrap.sh unpacks the detector here
HAND_PHOTO = Path("/usr/share/doc/opencv-doc/opencv4/html/handSrc.jpg")  # Debian opencv-doc


def encoded(pixels: np.ndarray[Any, Any], image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format)
    return buffer.getvalue()


def cat_photo() -> bytes:
    """scikit-image's Chelsea the cat, 451 x 300, as JPEG."""
    return encoded(skimage.data.chelsea(), "JPEG")  # type: ignore[no-untyped-call]


def coffee_photo() -> bytes:
    """scikit-image's cup of coffee, 600 x 400, as PNG."""
    return encoded(skimage.data.coffee())  # type: ignore[no-untyped-call]


def hand_photo() -> bytes:
    if not HAND_PHOTO.is_file():
        pytest.fail(f"{HAND_PHOTO} is missing: install opencv-doc (scripts/apt-packages-dev.txt)")
    return HAND_PHOTO.read_bytes()


def body(data: bytes, content_type: str = "application/octet-stream") -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=content_type, data=data)


def vision_settings(tokens: TokenFactory, data_dir: Path, **extra: Any) -> VisionSettings:
    return VisionSettings(
        service="vision", port=0, data_dir=data_dir, jwks_file=tokens.jwks_file,
        vision_models_dir=MODELS, rate_limit_per_second=0, **extra,
    )  # fmt: skip


async def start_vision(settings: VisionSettings) -> Running:
    """The real service (migrations included), without NATS: these tests need no events."""
    return await start(dataclasses.replace(SPEC, bus=False), settings)


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """One service per module on the local engines (loaded once, on first use)."""
    running = await start_vision(vision_settings(tokens, tmp_path_factory.mktemp("vision")))
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(service: Running) -> AsyncIterator[vision_pb2_grpc.VisionServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield vision_pb2_grpc.VisionServiceStub(channel)


@pytest.fixture
def alice(stub: vision_pb2_grpc.VisionServiceStub, tokens: TokenFactory) -> User:
    return User(stub, tokens.metadata(subject="users/alice"))


async def refusal(call: Awaitable[Any], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value


async def failure(call: Awaitable[Any], code: grpc.StatusCode) -> str:
    """The message of a call that must fail with `code`."""
    return (await refusal(call, code)).details() or ""


async def violations(call: Awaitable[Any]) -> list[tuple[str, str]]:
    """The BadRequest field violations of a call that must fail with INVALID_ARGUMENT."""
    error = await refusal(call, grpc.StatusCode.INVALID_ARGUMENT)
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(error).details[0].Unpack(bad)
    return [(v.field, v.description) for v in bad.field_violations]
