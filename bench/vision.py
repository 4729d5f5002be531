"""Vision throughput and latency: the service vs. the engines called directly, one run.

    PYTHONPATH=.:gen .venv/bin/python -m bench.vision [--rounds 5] [--in-flight 4]

The same photos (scikit-image's cat, coffee and astronaut, Debian opencv-doc's open hand) go
through each leg; every leg runs once to warm up (models load, not counted), then the legs take
turns for `--rounds` rounds, so a noisy machine slows them alike.

* engines, direct: in this thread, what AnalyzeImage runs — decode within bounds, the SSD
  detector, the EfficientNet classifier, the composed caption — and, for hands, decode and the
  MediaPipe recogniser; no gRPC, no thread pool, no database;
* service, one at a time: the vision service in process (auth, validation, worker threads, the
  history's SQLite write) over one gRPC channel, one call after another: its p50 latency;
* service, N in flight: `--in-flight` calls at once, so the worker threads never wait on the
  network: its images/s (with `VOKA_VISION_WORKERS` threads, 1 by default, as on two cores).

Overhead = service p50 / direct p50 - 1.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import skimage.data

from services.vision.engines.composed import compose
from services.vision.engines.local.classifier import LocalClassifier
from services.vision.engines.local.detector import LocalDetector
from services.vision.engines.local.hands import LocalHands
from services.vision.images.decode import Decoder
from tests.fixtures.tokens import TokenFactory
from tests.services.vision.conftest import (
    MODELS,
    body,
    cat_photo,
    coffee_photo,
    encoded,
    hand_photo,
    start_vision,
    vision_settings,
)
from voka.vision.v1 import vision_pb2, vision_pb2_grpc

MAX_RESULTS, MIN_OBJECT, MIN_LABEL = 10, 0.5, 0.1


def photos() -> list[bytes]:

    return [cat_photo(), coffee_photo(), encoded(skimage.data.astronaut(), "JPEG")]  # type: ignore[no-untyped-call]


class Direct:
    """The engines in this thread, as the service's workers run them."""

    def __init__(self) -> None:
        self.decoder = Decoder(max_bytes=10 * 1024 * 1024, max_pixels=40_000_000)
        self.detector = LocalDetector(MODELS, None)  # type: ignore[arg-type]
        self.classifier = LocalClassifier(None, 1)  # type: ignore[arg-type]
        self.hands = LocalHands(None, None)  # type: ignore[arg-type]

    def analyze(self, data: bytes) -> None:
        picture = self.decoder.decode(data)
        objects = self.detector.detect_now(picture, MAX_RESULTS, MIN_OBJECT)
        labels = self.classifier.classify_now(picture, MAX_RESULTS, MIN_LABEL)
        compose(objects, labels)

    def hand(self, data: bytes) -> None:
        self.hands.hands_now(self.decoder.decode(data), 2)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


async def timed_call(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started


async def in_flight(calls: list[Callable[[], Awaitable[Any]]], at_once: int) -> float:
    """Seconds for every call, `at_once` in flight."""
    gate = asyncio.Semaphore(at_once)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(one(c) for c in calls))
    return time.perf_counter() - started


def row(name: str, count: int, seconds: float, p50: float | None) -> str:
    """One line of the table; calls in flight have no per-image latency of their own."""
    shown = "-" if p50 is None else f"{p50 * 1000:.1f}"
    return f"{name:<34}{count:>7}{seconds:>9.2f}{count / seconds:>10.2f}{shown:>10}"


async def main(rounds: int, at_once: int) -> int:
    images, hand = photos(), hand_photo()
    direct = Direct()
    with tempfile.TemporaryDirectory() as work:
        tokens = TokenFactory.in_directory(Path(work))
        running = await start_vision(vision_settings(tokens, Path(work) / "data",
                                                     vision_queue_size=at_once * 2))  # fmt: skip
        metadata = tokens.metadata(ttl=3600)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                stub = vision_pb2_grpc.VisionServiceStub(channel)

                def analyze(data: bytes) -> Callable[[], Awaitable[Any]]:
                    request = vision_pb2.AnalyzeImageRequest(body=body(data))
                    return lambda: stub.AnalyzeImage(request, metadata=metadata)

                def detect(data: bytes) -> Callable[[], Awaitable[Any]]:
                    request = vision_pb2.DetectHandsRequest(body=body(data))
                    return lambda: stub.DetectHands(request, metadata=metadata)

                for data in images:  # warm: every model loads once, in each leg
                    direct.analyze(data)
                    await analyze(data)()
                direct.hand(hand)
                await detect(hand)()

                legs: dict[str, list[float]] = {k: [] for k in (
                    "analyze: engines, direct", "analyze: service, one at a time",
                    "hands: engines, direct", "hands: service, one at a time")}  # fmt: skip
                crowd: list[float] = []
                for _ in range(rounds):
                    for data in images:
                        legs["analyze: engines, direct"].append(
                            timed(functools.partial(direct.analyze, data))
                        )
                        legs["analyze: service, one at a time"].append(
                            await timed_call(analyze(data))
                        )
                    legs["hands: engines, direct"].append(
                        timed(functools.partial(direct.hand, hand))
                    )
                    legs["hands: service, one at a time"].append(await timed_call(detect(hand)))
                    crowd.append(await in_flight([analyze(d) for d in images], at_once))
        finally:
            await running.stop()
            direct.hands.close()
    print(f"{'leg':<34}{'images':>7}{'seconds':>9}{'images/s':>10}{'p50 ms':>10}")
    for name, latencies in legs.items():
        print(row(name, len(latencies), sum(latencies), statistics.median(latencies)))
    print(row(f"analyze: service, {at_once} in flight", len(images) * rounds, sum(crowd), None))
    for task in ("analyze", "hands"):
        service = statistics.median(legs[f"{task}: service, one at a time"])
        engine = statistics.median(legs[f"{task}: engines, direct"])
        print(f"{task}: service p50 overhead {service / engine - 1:+.1%} over the engines")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--in-flight", type=int, default=4)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.rounds, arguments.in_flight)))
