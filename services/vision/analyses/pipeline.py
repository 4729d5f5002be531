"""An image through the engines: decoded once (in a worker thread, within the service's
bounds), then objects and labels at once, then the caption that may use them; or the hands,
each hand's crop sent to the sign model when one is configured. The timings cover the engines
only, not the waiting for a worker."""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractContextManager
from dataclasses import replace

from services.vision.engines.selection import Engines
from services.vision.images.crop import crop
from services.vision.images.decode import Decoder, Picture
from services.vision.records import Findings, HandFinding
from services.vision.workers import Workers


class Pipeline:
    """The engines, the decoder and the worker threads they share."""

    def __init__(self, engines: Engines, decoder: Decoder, workers: Workers) -> None:
        self._engines = engines
        self._decoder = decoder
        self._workers = workers

    def admitted(self) -> AbstractContextManager[None]:
        """One image in progress (RESOURCE_EXHAUSTED when the service is full)."""
        return self._workers.admitted()

    async def picture(self, data: bytes) -> Picture:
        """The decoded image; INVALID_ARGUMENT (`body`) for what is not one within bounds."""
        self._decoder.check_size(data)  # refused before queueing: no worker spent on it
        return await self._workers.run("decoding the image", self._decoder.decode, data)

    async def analyze(
        self, picture: Picture, max_results: int, object_min: float, label_min: float
    ) -> Findings:
        """Objects at least `object_min` sure and labels at least `label_min` likely."""
        engines = self._engines
        started = time.perf_counter()
        objects, labels = await asyncio.gather(
            engines.detector.detect(picture, max_results, object_min),
            engines.classifier.classify(picture, max_results, label_min),
        )
        caption = await engines.captioner.caption(picture, objects, labels)
        return Findings(
            objects=tuple(objects), labels=tuple(labels), caption=caption,
            object_engine=engines.detector.name, label_engine=engines.classifier.name,
            inference_seconds=time.perf_counter() - started,
        )  # fmt: skip

    async def hands(self, picture: Picture, max_hands: int) -> Findings:
        started = time.perf_counter()
        hands = await self._engines.hands.hands(picture, max_hands)
        engine = self._engines.hands.name
        if self._engines.sign is not None and hands:
            hands = list(await asyncio.gather(*(self._signed(picture, hand) for hand in hands)))
            engine = f"{engine}+{self._engines.sign.name}"
        return Findings(hands=tuple(hands), hand_engine=engine,
                        inference_seconds=time.perf_counter() - started)  # fmt: skip

    async def _signed(self, picture: Picture, hand: HandFinding) -> HandFinding:
        """The hand with the sign model's label for its crop as its gesture."""
        assert self._engines.sign is not None
        region = await self._workers.run("cropping a hand", crop, picture, hand.box)
        sign = await self._engines.sign.sign(region)
        if sign is None:
            return hand
        return replace(hand, gesture=sign.label, gesture_score=sign.score)
