"""The kinect service in process on a real NATS server, twice: on the synthetic scene, and on a
recording this suite writes in libfreenect's dump format, replayed by Debian's fakenect through
the real libfreenect adapter (capture process, `freenect` binding, the fakenect shim built by
gcc into the data directory). No Kinect is attached to any machine this runs on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from services.kinect import dump
from services.kinect.service import SPEC
from services.kinect.settings import KinectSettings
from tests.fixtures.tokens import TokenFactory
from tools.processes import NatsServer
from voka.kinect.v1 import kinect_pb2_grpc
from voka.server import Running, start

MAX_STREAMS = 3
MAX_STREAMS_PER_USER = 2
# Slow enough that a motor read lands inside a turn of the replay (fakenect stops at its end).
RECORDED_FPS = 5


def recorded_scenes() -> list[dump.Scene]:
    """Three instants whose every pixel is known: depth ramps (with a no-reading corner) and
    flat colours, the motor at 5 degrees with gravity along y."""
    ramp = np.arange(480 * 640, dtype=np.uint32).reshape(480, 640)
    scenes = []
    for i in range(3):
        depth = ((ramp + 97 * i) % 600 + 400).astype(np.uint16)  # 0.8 m to 3.7 m
        depth[:8, :8] = 2047
        rgb = np.zeros((480, 640, 3), np.uint8)
        rgb[..., i] = 200
        rgb[:, :, (i + 1) % 3] = np.arange(640, dtype=np.uint32)[None, :] % 256
        scenes.append(dump.Scene(depth, rgb, (0, dump.COUNTS_PER_G, 0), 10))
    return scenes


@pytest.fixture(scope="package")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dump.Scene], list[int]]:
    directory = tmp_path_factory.mktemp("recording")
    scenes = recorded_scenes()
    return directory, scenes, dump.write(directory, scenes, fps=RECORDED_FPS)


def settings_for(
    tokens: TokenFactory, nats: NatsServer, data_dir: Path, **extra: object
) -> KinectSettings:
    return KinectSettings(
        service="kinect",
        port=0,
        data_dir=data_dir,
        jwks_file=tokens.jwks_file,
        nats_url=nats.url,
        kinect_max_streams=MAX_STREAMS,
        kinect_max_streams_per_user=MAX_STREAMS_PER_USER,
        **extra,  # type: ignore[arg-type]
    )


async def _serve(settings: KinectSettings) -> AsyncIterator[kinect_pb2_grpc.KinectServiceStub]:
    running: Running = await start(SPEC, settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield kinect_pb2_grpc.KinectServiceStub(channel)
    finally:
        await running.stop()


@pytest.fixture(scope="module")
async def synthetic(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[kinect_pb2_grpc.KinectServiceStub]:
    settings = settings_for(tokens, nats, tmp_path_factory.mktemp("synthetic"))
    async for stub in _serve(settings):
        yield stub


@pytest.fixture(scope="module")
async def recorded(
    tokens: TokenFactory,
    nats: NatsServer,
    recording: tuple[Path, list[dump.Scene], list[int]],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[kinect_pb2_grpc.KinectServiceStub]:
    settings = settings_for(
        tokens,
        nats,
        tmp_path_factory.mktemp("recorded"),
        kinect_source="recorded",
        kinect_recording=recording[0],
    )
    async for stub in _serve(settings):
        yield stub
