"""Routing over engines that say which pairs they have: direct legs first, else a pivot through
any installed language (English first when equal), at most MAX_LEGS legs, planned ahead."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.translate.catalogue import MAX_LEGS, Catalogue
from voka.translate.v1 import translate_pb2

APERTIUM = translate_pb2.ENGINE_APERTIUM
MARIAN = translate_pb2.ENGINE_MARIAN


@dataclass
class FakeEngine:
    """An engine holding `pairs`, counting how often it is asked."""

    kind: int
    pairs: set[tuple[str, str]]
    checks: int = field(default=0)

    def installed(self, source: str, target: str) -> bool:
        self.checks += 1
        return (source, target) in self.pairs

    def model_id(self, source: str, target: str) -> str:
        return f"{self.kind}:{source}-{target}"


def both_ways(*pairs: str) -> set[tuple[str, str]]:
    found = set()
    for pair in pairs:
        source, target = pair.split("-")
        found |= {(source, target), (target, source)}
    return found


def path(catalogue: Catalogue, source: str, target: str) -> list[str]:
    route = catalogue.route(source, target)
    return [f"{leg.source}-{leg.target}" for leg in route.legs] if route.installed else []


def test_pivots_through_any_installed_language() -> None:
    rules = FakeEngine(APERTIUM, both_ways("en-es", "es-fr", "es-pt"))
    catalogue = Catalogue([rules], {})
    assert path(catalogue, "en", "fr") == ["en-es", "es-fr"]
    assert path(catalogue, "pt", "fr") == ["pt-es", "es-fr"]
    assert path(catalogue, "fr", "en") == ["fr-es", "es-en"]
    route = catalogue.route("en", "fr")
    assert route.is_pivot
    assert route.engine == APERTIUM


def test_english_is_the_pivot_when_routes_are_equal_and_neural_legs_win() -> None:
    rules = FakeEngine(APERTIUM, both_ways("ca-en", "en-it", "ca-es", "es-it", "en-de"))
    neural = FakeEngine(MARIAN, both_ways("ca-fr", "fr-de"))
    catalogue = Catalogue([neural, rules], {})
    assert path(catalogue, "ca", "it") == ["ca-en", "en-it"]
    assert [leg.engine for leg in catalogue.route("ca", "de").legs] == [MARIAN, MARIAN]


def test_no_route_longer_than_the_bound() -> None:
    assert MAX_LEGS == 2
    rules = FakeEngine(APERTIUM, both_ways("en-es", "es-fr", "fr-it"))
    catalogue = Catalogue([rules], {})
    route = catalogue.route("en", "it")
    assert not route.installed
    assert [(leg.source, leg.target) for leg in route.legs] == [("en", "it")]
    assert route.install_commands


def test_routes_are_planned_ahead_not_per_call() -> None:
    rules = FakeEngine(APERTIUM, both_ways("en-es", "es-fr"))
    catalogue = Catalogue([rules], {})
    checked = rules.checks
    for _ in range(100):
        catalogue.route("en", "fr")
        catalogue.route("de", "it")
    assert rules.checks == checked
    rules.pairs |= both_ways("fr-it")
    assert path(catalogue, "es", "it") == []
    catalogue.refresh()  # what the service does every few seconds: a new model counts
    assert path(catalogue, "es", "it") == ["es-fr", "fr-it"]
