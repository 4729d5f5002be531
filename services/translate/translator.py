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
from services.translate.numbers import same_numbers
from voka import errors
from voka.errors import FieldViolation
from voka.translate.v1 import translate_pb2


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
    number_check: int = translate_pb2.NUMBER_CHECK_UNSPECIFIED


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
        translated, cached, check = await self._run(route, text, owner)
        return Outcome(
            translated,
            source,
            target,
            detected,
            route.legs,
            route.engine,
            cached,
            _since(started),
            check,
        )

    async def _run(self, route: Route, text: str, owner: str) -> tuple[str, bool, int]:
        """The translation, whether every leg came from the cache, and the number check
        (NumberCheck: the worst over the language-model legs; none: UNSPECIFIED)."""
        split = segments.split(text)
        current, all_cached = split.segments, True
        check: int = translate_pb2.NUMBER_CHECK_UNSPECIFIED
        for leg in route.legs:
            before = current
            current, cached = await self._leg(route, leg.engine, leg, current, owner)
            all_cached &= cached
            if leg.engine == translate_pb2.ENGINE_LLM:
                current, leg_check = await self._check_numbers(route, leg, before, current, owner)
                check = max(check, leg_check)
        return split.join(current), all_cached, check

    async def _leg(
        self, route: Route, kind: int, leg: Leg, texts: list[str], owner: str
    ) -> tuple[list[str], bool]:
        """`texts` through `leg`'s languages on the engine `kind`."""
        engine: Engine = self.catalogue.engines[kind]  # type: ignore[assignment]
        try:
            return await self._batcher.translate(engine, leg.source, leg.target, texts, owner=owner)
        except ModelMissingError:
            raise missing(route) from None
        except EngineError as exc:
            raise errors.VokaError(str(exc), code=grpc.StatusCode.INTERNAL) from exc

    async def _check_numbers(
        self, route: Route, leg: Leg, sources: list[str], outputs: list[str], owner: str
    ) -> tuple[list[str], int]:
        """A language model's sentences whose numbers differ from their source's go through
        Apertium again when it has the leg's pair (FELL_BACK), else stay (FLAGGED)."""
        wrong = [
            index
            for index, (source, output) in enumerate(zip(sources, outputs, strict=True))
            if not same_numbers(source, leg.source, output, leg.target)
        ]
        if not wrong:
            return outputs, translate_pb2.NUMBER_CHECK_PASSED
        apertium = self.catalogue.engines.get(translate_pb2.ENGINE_APERTIUM)
        if apertium is None or not apertium.installed(leg.source, leg.target):
            return outputs, translate_pb2.NUMBER_CHECK_FLAGGED
        again, _ = await self._leg(
            route, translate_pb2.ENGINE_APERTIUM, leg, [sources[i] for i in wrong], owner
        )
        fixed = list(outputs)
        for index, text in zip(wrong, again, strict=True):
            fixed[index] = text
        return fixed, translate_pb2.NUMBER_CHECK_FELL_BACK

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
