"""The languages Voka describes and how each ordered pair is served: which engine per leg,
direct or through the English pivot, installed or with the command that installs it.

Routing rules, in order: an engine configured for the pair; else the pair's CTranslate2
conversion when installed; else its Marian model; else Apertium when it has the pair. No direct
leg: pivot through English (legs may use different engines). Nothing installed: the direct
Marian model, reported as missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from voka.translate.v1 import translate_pb2

PIVOT = "en"
AUTO = "auto"

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
}


# The same model is faster converted; a neural model beats rules.
PREFERENCE = (
    translate_pb2.ENGINE_CTRANSLATE2,
    translate_pb2.ENGINE_MARIAN,
    translate_pb2.ENGINE_APERTIUM,
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


class Catalogue:
    """Routes over the engines installed now (asked on every call: a pulled model counts at
    once, without a restart)."""

    def __init__(
        self, engines: Sequence[LegEngine], configured: Mapping[tuple[str, str], int]
    ) -> None:
        self._engines = {engine.kind: engine for engine in engines}
        self._configured = dict(configured)

    @property
    def engines(self) -> Mapping[int, LegEngine]:
        return self._engines

    def route(self, source: str, target: str, engine: int = 0) -> Route:
        """The route for a pair; `engine` (when set) forces every leg onto that engine."""
        direct = self._leg(source, target, engine)
        if direct.installed or PIVOT in (source, target):
            return Route(source, target, (direct,))
        legs = (self._leg(source, PIVOT, engine), self._leg(PIVOT, target, engine))
        if all(leg.installed for leg in legs):
            return Route(source, target, legs)
        return Route(source, target, (direct,))

    def routes(self) -> list[Route]:
        """Every ordered pair of the catalogue, by source then target."""
        codes = sorted(LANGUAGES)
        return [self.route(s, t) for s in codes for t in codes if s != t]

    def _leg(self, source: str, target: str, forced: int) -> Leg:
        wanted = forced or self._configured.get((source, target), 0)
        if wanted:
            return self._leg_on(wanted, source, target)
        for kind in PREFERENCE:
            engine = self._engines.get(kind)
            if engine is not None and engine.installed(source, target):
                return self._leg_on(kind, source, target)
        return self._leg_on(translate_pb2.ENGINE_MARIAN, source, target)

    def _leg_on(self, kind: int, source: str, target: str) -> Leg:
        engine = self._engines.get(kind)
        if engine is None:  # an engine this process was built without: describable, never installed
            model = f"Helsinki-NLP/opus-mt-{source}-{target}"
            return Leg(source, target, kind, model, installed=False)
        model = engine.model_id(source, target)
        return Leg(source, target, kind, model, engine.installed(source, target))
