"""The rule-based memory extractor (English and Spanish facts, preferences, corrections; never
questions) and the rules by which the profile learns from feedback and stated preferences."""

from __future__ import annotations

import dataclasses

import pytest

from services.assistant.hemisphere import Balance
from services.assistant.memory.extraction import (
    CORRECTION,
    FACT,
    PREFERENCE,
    RULES,
    Candidate,
    RuleExtractor,
)
from services.assistant.profile import rules
from services.assistant.profile.profiles import prompt_lines
from services.assistant.profile.records import ProfileRecord
from voka.assistant.v1 import assistant_pb2


@pytest.mark.parametrize(
    ("message", "kind", "slot"),
    [
        ("My name is Ana.", FACT, "name"),
        ("Me llamo Ana y vivo en Valencia.", FACT, "name"),
        ("Trabajo como enfermera.", FACT, "work"),
        ("I work as a pilot", FACT, "work"),
        ("I prefer short answers.", PREFERENCE, None),
        ("Prefiero respuestas en español.", PREFERENCE, None),
        ("My favourite colour is green.", FACT, None),
        ("No, actually I live in Madrid.", CORRECTION, "home"),
        ("En realidad, vivo en Sevilla.", CORRECTION, "home"),
    ],
)
async def test_a_stated_fact_preference_or_correction_is_remembered_in_the_users_words(
    message: str, kind: int, slot: str | None
) -> None:
    extractor = RuleExtractor()
    assert extractor.source == RULES == "extractor/rules"
    assert await extractor.extract(message) == [Candidate(message, kind, slot)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "message",
    ["What is my name?", "¿Dónde vivo yo?", "Translate 'good morning' into French.",
     "Soy desarrolladora."],
)  # fmt: skip
async def test_questions_and_requests_are_not_remembered(message: str) -> None:
    assert await RuleExtractor().extract(message) == []


async def test_each_sentence_is_judged_on_its_own() -> None:
    found = await RuleExtractor().extract("Hi! I live in Lisbon. What time is it there?")
    assert found == [Candidate("I live in Lisbon.", FACT, "home")]


def test_reasons_and_preferences_teach_verbosity_tone_language_and_balance() -> None:
    start = ProfileRecord("users/ana")
    taught = rules.apply(
        start, rules.lessons("Too long, and please answer in Spanish"), rules.NEUTRAL
    )
    assert taught.verbosity == assistant_pb2.VERBOSITY_CONCISE
    assert taught.language == "es"
    assert prompt_lines(taught) == [
        "Keep answers short: a few sentences at most.",
        "Answer in Spanish.",
    ]
    formal = rules.apply(start, rules.lessons("demasiado informal"), rules.NEUTRAL)
    assert formal.tone == assistant_pb2.TONE_FORMAL
    warmer = rules.apply(start, rules.lessons("too cold"), Balance(0.8, 0.2))
    assert (warmer.technical, warmer.emotional) == (0.7, 0.3)  # a step from the rated reply's
    assert rules.apply(warmer, rules.lessons("too cold"), Balance(0.8, 0.2)) == warmer  # again
    again = rules.apply(warmer, rules.lessons("robotic"), Balance(0.7, 0.3))
    assert again.technical == pytest.approx(0.6)  # the next reply, written with what was learned
    assert rules.lessons("great answer") == []
    assert prompt_lines(start) == []


def test_a_thumbs_up_moves_a_quarter_of_the_way_to_the_rated_balance() -> None:
    start = ProfileRecord("users/ana")
    approved = rules.approve(start, Balance(0.9, 0.1))
    assert approved.technical == pytest.approx(0.6)
    assert rules.approve(approved, Balance(0.6, 0.4)) == dataclasses.replace(approved)
