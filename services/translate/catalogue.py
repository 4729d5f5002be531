"""The languages Voka describes and how each ordered pair is served: which engine per leg,
direct or through pivot languages, installed or with the command that installs it.

Routing rules, in order: an engine configured for the pair; else the pair's CTranslate2
conversion when installed; else its Marian model; else Apertium when it has the pair; else the
language model (ENGINE_LLM) when one is configured, which has every pair. No direct
leg: the shortest route of at most MAX_LEGS installed legs through any language (legs may use
different engines; among equally short routes, neural legs first, then English as the pivot).
Nothing installed: the direct Marian model, reported as missing.

Every pair is planned ahead (`Catalogue.refresh`), so a translation looks its route up instead
of searching the pair graph and asking the engines; the service plans again every
REFRESH_SECONDS, so a model installed while it runs counts within that time, without a restart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

from voka.translate.v1 import translate_pb2

PIVOT = "en"  # the preferred pivot, between routes otherwise equal
AUTO = "auto"
# Legs a route may have: each leg loses a little, so one pivot language at most.
MAX_LEGS = 2
REFRESH_SECONDS = 10.0

# code -> (English name, native name). ISO 639-1 codes.
LANGUAGES: Mapping[str, tuple[str, str]] = {
    "ar": ("Arabic", "العربية"),
    "ca": ("Catalan", "Català"),
    "de": ("German", "Deutsch"),
    "en": ("English", "English"),
    "es": ("Spanish", "Español"),
    "fr": ("French", "Français"),
    "it": ("Italian", "Italiano"),
    "ja": ("Japanese", "日本語"),
    "ko": ("Korean", "한국어"),
    "nl": ("Dutch", "Nederlands"),
    "pl": ("Polish", "Polski"),
    "pt": ("Portuguese", "Português"),
    "ru": ("Russian", "Русский"),
    "tr": ("Turkish", "Türkçe"),
    "zh": ("Chinese", "中文"),
}

ENGINE_NAMES: Mapping[str, int] = {
    "marian": translate_pb2.ENGINE_MARIAN,
    "ctranslate2": translate_pb2.ENGINE_CTRANSLATE2,
    "apertium": translate_pb2.ENGINE_APERTIUM,
    "llm": translate_pb2.ENGINE_LLM,
}


# The same model is faster converted; a neural model beats rules; a language model (slow, and
# it may change numbers) serves what nothing else has.
PREFERENCE = (
    translate_pb2.ENGINE_CTRANSLATE2,
    translate_pb2.ENGINE_MARIAN,
    translate_pb2.ENGINE_APERTIUM,
    translate_pb2.ENGINE_LLM,
)


class LegEngine(Protocol):
    """What routing needs to know of an engine: which pairs it can run now, and the model."""

    @property
    def kind(self) -> int: ...

    def installed(self, source: str, target: str) -> bool: ...

    def model_id(self, source: str, target: str) -> str: ...


@dataclass(frozen=True)
class Leg:
    """One planned step: `engine` translates `source` → `target` with `model`."""

    source: str
    target: str
    engine: int
    model: str
    installed: bool


@dataclass(frozen=True)
class Route:
    """How a pair is served; `install_commands` say how to make the missing legs installed."""

    source: str
    target: str
    legs: tuple[Leg, ...]

    @property
    def installed(self) -> bool:
        return all(leg.installed for leg in self.legs)

    @property
    def is_pivot(self) -> bool:
        return len(self.legs) > 1

    @property
    def engine(self) -> int:
        """The legs' engine; mixed: APERTIUM when any leg is rule-based, else the last leg's."""
        engines = {leg.engine for leg in self.legs}
        if len(engines) > 1 and translate_pb2.ENGINE_APERTIUM in engines:
            return translate_pb2.ENGINE_APERTIUM
        return self.legs[-1].engine

    @property
    def install_commands(self) -> list[str]:
        return [install_command(leg) for leg in self.legs if not leg.installed]


def install_command(leg: Leg) -> str:
    if leg.engine == translate_pb2.ENGINE_APERTIUM:
        return "apt-get install apertium (and the pair's apertium-* package)"
    if leg.engine == translate_pb2.ENGINE_LLM:
        return "make up (it installs the local language model where memory allows)"
    if leg.engine == translate_pb2.ENGINE_CTRANSLATE2:
        models = "python -m services.translate models"
        pair = f"{leg.source}-{leg.target}"
        return f"{models} pull {pair} && {models} convert {pair}"
    return f"python -m services.translate models pull {leg.source}-{leg.target}"


def parse_engines(config: Mapping[str, str]) -> dict[tuple[str, str], int]:
    """`{"en-es": "apertium"}` → {("en", "es"): ENGINE_APERTIUM}; a bad entry stops the start,
    since a silently ignored override would serve the wrong engine."""
    parsed: dict[tuple[str, str], int] = {}
    for pair, name in config.items():
        source, _, target = pair.partition("-")
        if source not in LANGUAGES or target not in LANGUAGES or name not in ENGINE_NAMES:
            raise ValueError(f"VOKA_TRANSLATE_ENGINES: bad entry {pair!r}: {name!r}")
        parsed[(source, target)] = ENGINE_NAMES[name]
    return parsed


Pair = tuple[str, str]
ViewT = TypeVar("ViewT")
# Every ordered pair of the catalogue, by source then target.
CODES = sorted(LANGUAGES)
PAIRS: tuple[Pair, ...] = tuple((s, t) for s in CODES for t in CODES if s != t)
# Forced engines a request may name (0: none), each planned ahead.
FORCED = (0, *ENGINE_NAMES.values())


@dataclass(frozen=True)
class Plan:
    """Every pair's route, per forced engine, and what the default routes reach."""

    routes: Mapping[int, Mapping[Pair, Route]]
    # source -> the targets its installed default routes reach, sorted
    targets: Mapping[str, tuple[str, ...]]
    # What `Catalogue.view` made of this plan, by the function that made it.
    views: dict[Callable[[Sequence[Route]], object], object] = field(
        default_factory=dict, compare=False
    )


class Catalogue:
    """Routes over the installed engines, planned ahead: `route` is a lookup."""

    def __init__(
        self, engines: Sequence[LegEngine], configured: Mapping[tuple[str, str], int]
    ) -> None:
        self._engines = {engine.kind: engine for engine in engines}
        self._configured = dict(configured)
        self._plan = self._planned()

    @property
    def engines(self) -> Mapping[int, LegEngine]:
        return self._engines

    def route(self, source: str, target: str, engine: int = 0) -> Route:
        """The route for a pair of two different languages; `engine` (when set) forces every
        leg onto that engine."""
        return self._plan.routes[engine][(source, target)]

    def routes(self) -> list[Route]:
        """Every ordered pair of the catalogue, by source then target."""
        return list(self._plan.routes[0].values())

    def view(self, make: Callable[[Sequence[Route]], ViewT]) -> ViewT:
        """`make(routes)` (every ordered pair's route, by source then target) made once per
        plan and kept with it: what the catalogue RPCs answer (the contract's messages) is
        built when the routes change, not per call."""
        plan = self._plan  # one plan throughout, even if a refresh replaces it meanwhile
        if make not in plan.views:
            plan.views[make] = make(list(plan.routes[0].values()))
        return cast(ViewT, plan.views[make])

    def sources(self) -> list[str]:
        """The languages something translates from now, sorted."""
        return sorted(self._plan.targets)

    def targets(self, source: str) -> tuple[str, ...]:
        """The languages `source` can be translated to now; none: nothing translates from it."""
        return self._plan.targets.get(source, ())

    def refresh(self) -> None:
        """Plan every pair again from what the engines have now. Blocking (it looks at model
        directories): the service runs it off the event loop. The new plan replaces the old in
        one assignment, so a translation sees one or the other, never a mix."""
        self._plan = self._planned()

    def _planned(self) -> Plan:
        installed = {
            kind: frozenset(pair for pair in PAIRS if engine.installed(*pair))
            for kind, engine in self._engines.items()
        }
        routes = {forced: self._routes(installed, forced) for forced in FORCED}
        targets: dict[str, list[str]] = {}
        for route in routes[0].values():
            if route.installed:
                targets.setdefault(route.source, []).append(route.target)
        return Plan(routes, {source: tuple(found) for source, found in targets.items()})

    def _routes(self, installed: Mapping[int, frozenset[Pair]], forced: int) -> dict[Pair, Route]:
        legs = {pair: self._leg(installed, *pair, forced) for pair in PAIRS}
        leaving: dict[str, list[Leg]] = {}
        for leg in legs.values():
            if leg.installed:
                leaving.setdefault(leg.source, []).append(leg)
        routes: dict[Pair, Route] = {}
        for source, target in PAIRS:
            direct = legs[(source, target)]
            best = None
            if not direct.installed:
                best = min(_paths(leaving, source, target, MAX_LEGS), key=_rank, default=None)
            routes[(source, target)] = Route(source, target, best or (direct,))
        return routes

    def _leg(
        self, installed: Mapping[int, frozenset[Pair]], source: str, target: str, forced: int
    ) -> Leg:
        pair = (source, target)
        wanted = forced or self._configured.get(pair, 0)
        if not wanted:
            has = (kind for kind in PREFERENCE if pair in installed.get(kind, ()))
            wanted = next(has, translate_pb2.ENGINE_MARIAN)
        engine = self._engines.get(wanted)
        if engine is None:  # an engine this process was built without: describable, never installed
            return Leg(source, target, wanted, f"Helsinki-NLP/opus-mt-{source}-{target}", False)
        model = engine.model_id(source, target)
        return Leg(source, target, wanted, model, pair in installed.get(wanted, ()))


def _paths(
    leaving: Mapping[str, list[Leg]], source: str, target: str, most: int
) -> Iterator[tuple[Leg, ...]]:
    """Routes of installed legs from `source` to `target`, at most `most` legs, no language
    visited twice."""
    for leg in leaving.get(source, ()):
        if leg.target == target:
            yield (leg,)
        elif most > 1:
            for rest in _paths(leaving, leg.target, target, most - 1):
                if source not in (later.target for later in rest):
                    yield (leg, *rest)


def _rank(legs: tuple[Leg, ...]) -> tuple[int, int, int, tuple[str, ...]]:
    """Shorter first; then the better engines (PREFERENCE); then through English; then by
    pivot name, so the choice never depends on the order engines answer in."""
    pivots = tuple(leg.target for leg in legs[:-1])
    engines = sum(PREFERENCE.index(leg.engine) for leg in legs)
    return len(legs), engines, sum(pivot != PIVOT for pivot in pivots), pivots
