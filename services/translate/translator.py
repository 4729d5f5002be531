"""One text through detection, routing, sentence splitting and the batched legs."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass

import grpc

from services.translate import segments
from services.translate.batching import Batcher
from services.translate.catalogue import AUTO, Catalogue, Leg, Route
from services.translate.detection import Detected, Detector
from services.translate.engines.base import Engine, EngineError, ModelMissingError
from voka import errors


@dataclass(frozen=True)
class Job:
    """One validated text to translate, as any of the three translate RPCs asks for it."""

    text: str
    source: str
    target: str
    engine: int
    skip_history: bool
    origin: int


@dataclass(frozen=True)
class Outcome:
    """A finished translation, with everything the answer, history and stats report."""

    text: str
    source: str
    target: str
    detected: Detected | None
    legs: tuple[Leg, ...]
    engine: int
    cached: bool
    latency: float  # seconds, queueing included


class Translator:
    def __init__(
        self, catalogue: Catalogue, batcher: Batcher, detector: Detector, executor: Executor
    ) -> None:
        self.catalogue = catalogue
        self._batcher = batcher
        self._detector = detector
        self._executor = executor

    async def detect(self, text: str) -> list[Detected]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._detector.detect, text)

    async def translate(self, text: str, source: str, target: str, engine: int = 0) -> Outcome:
        """Raises VokaError: FAILED_PRECONDITION (not installed), RESOURCE_EXHAUSTED, INTERNAL."""
        started = time.monotonic()
        detected = None
        if source in ("", AUTO):
            detected = (await self.detect(text))[0]
            source = detected.language
        if source == target:
            return Outcome(text, source, target, detected, (), 0, False, _since(started))
        route = self.catalogue.route(source, target, engine)
        if not route.installed:
            raise missing(route)
        translated, cached = await self._run(route, text)
        return Outcome(
            translated, source, target, detected, route.legs, route.engine, cached, _since(started)
        )

    async def _run(self, route: Route, text: str) -> tuple[str, bool]:
        split = segments.split(text)
        current, all_cached = split.segments, True
        for leg in route.legs:
            engine: Engine = self.catalogue.engines[leg.engine]  # type: ignore[assignment]
            try:
                current, cached = await self._batcher.translate(
                    engine, leg.source, leg.target, current
                )
            except ModelMissingError:
                raise missing(route) from None
            except EngineError as exc:
                raise errors.VokaError(str(exc), code=grpc.StatusCode.INTERNAL) from exc
            all_cached &= cached
        return split.join(current), all_cached


def missing(route: Route) -> errors.VokaError:
    """FAILED_PRECONDITION naming the pair and the commands that install its missing legs."""
    pair = f"{route.source}-{route.target}"
    commands = " and ".join(f"`{c}`" for c in route.install_commands)
    return errors.failed_precondition(
        f"no translation model installed for {pair}: install it with {commands}",
        violation_type="MODEL_NOT_INSTALLED",
        subject=f"language-pairs/{pair}",
    )


def _since(started: float) -> float:
    return time.monotonic() - started
