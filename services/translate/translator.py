"""One text through detection, routing, sentence splitting and the batched legs.

A pair no installed route serves is the caller's wrong value (INVALID_ARGUMENT naming the
language's field, with the command that would install it); FAILED_PRECONDITION is kept for the
engine a request names lacking a model that the pair otherwise has, and for a model gone since
the routes were planned.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor
from dataclasses import dataclass

import grpc

from services.translate import segments
from services.translate.batching import Batcher
from services.translate.catalogue import AUTO, LANGUAGES, Catalogue, Leg, Route
from services.translate.detection import MIN_CONFIDENCE, Detected, Detector
from services.translate.engines.base import Engine, EngineError, ModelMissingError
from voka import errors
from voka.errors import FieldViolation


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

    async def translate(
        self, text: str, source: str, target: str, engine: int = 0, owner: str = ""
    ) -> Outcome:
        """Raises VokaError: INVALID_ARGUMENT (a language nothing installed serves, or a text
        whose language cannot be told), FAILED_PRECONDITION (the engine asked for lacks the
        model), RESOURCE_EXHAUSTED, INTERNAL. `owner` asks: an answer is `cached` only when
        the cache gives the owner what it gave the owner before."""
        started = time.monotonic()
        detected = None
        if source in ("", AUTO):
            detected = (await self.detect(text))[0]
            if not detected.sure:
                raise unsure(detected)
            source = detected.language
        if source == target:
            return Outcome(text, source, target, detected, (), 0, False, _since(started))
        route = self.catalogue.route(source, target, engine)
        if not route.installed:
            raise self._refusal(route, detected)
        translated, cached = await self._run(route, text, owner)
        return Outcome(
            translated, source, target, detected, route.legs, route.engine, cached, _since(started)
        )

    async def _run(self, route: Route, text: str, owner: str) -> tuple[str, bool]:
        split = segments.split(text)
        current, all_cached = split.segments, True
        for leg in route.legs:
            engine: Engine = self.catalogue.engines[leg.engine]  # type: ignore[assignment]
            try:
                current, cached = await self._batcher.translate(
                    engine, leg.source, leg.target, current, owner=owner
                )
            except ModelMissingError:
                raise missing(route) from None
            except EngineError as exc:
                raise errors.VokaError(str(exc), code=grpc.StatusCode.INTERNAL) from exc
            all_cached &= cached
        return split.join(current), all_cached

    def _refusal(self, route: Route, detected: Detected | None) -> errors.VokaError:
        """Why `route` cannot run: the language nothing installed reaches, or the engine."""
        source, target = route.source, route.target
        usual = self.catalogue.route(source, target)
        if usual.installed:  # served, but not by the engine the request names
            return missing(route)
        install = _commands(usual)
        reachable = self.catalogue.targets(source)
        detected_as = " (detected)" if detected else ""
        if not reachable:
            sources = ", ".join(self.catalogue.sources())
            return _invalid(
                "source_language_code",
                f"nothing installed here translates from {_name(source)}{detected_as}; it "
                f"translates from {sources}. To add {source}-{target}, install it with {install}",
            )
        return _invalid(
            "target_language_code",
            f"{_name(source)}{detected_as} cannot be translated to {_name(target)} here, only to "
            f"{', '.join(reachable)}. To add {source}-{target}, install it with {install}",
        )


def unsure(found: Detected) -> errors.VokaError:
    """INVALID_ARGUMENT asking for the source language of a text detection cannot place."""
    return _invalid(
        "source_language_code",
        "cannot tell which language the text is in (too short or mixed: the best guess, "
        f"{_name(found.language)}, has confidence {found.confidence:.2f}, under "
        f"{MIN_CONFIDENCE}); set source_language_code to the text's language",
    )


def missing(route: Route) -> errors.VokaError:
    """FAILED_PRECONDITION naming the pair and the commands that install its missing legs."""
    pair = f"{route.source}-{route.target}"
    return errors.failed_precondition(
        f"no translation model installed for {pair}: install it with {_commands(route)}",
        violation_type="MODEL_NOT_INSTALLED",
        subject=f"language-pairs/{pair}",
    )


def _commands(route: Route) -> str:
    return " and ".join(f"`{c}`" for c in route.install_commands)


def _name(code: str) -> str:
    return f"{LANGUAGES[code][0]} ({code})"


def _invalid(path: str, description: str) -> errors.VokaError:
    return errors.invalid_argument([FieldViolation(path, description)])


def _since(started: float) -> float:
    return time.monotonic() - started
