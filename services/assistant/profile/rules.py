"""The stated rules by which the profile learns.

* A thumbs down's reason, and a preference the user stated (a PREFERENCE memory), are matched
  against the phrases below (English and Spanish); each phrase found teaches one thing: a
  verbosity, a tone, a language, or a step of 0.1 towards the technical or the emotional side,
  taken from the balance the rated reply was written with (for a stated preference: from the
  learned balance, else 0.5).
* A thumbs up moves the learned balance a quarter of the way towards the balance the rated reply
  was written with (its reason praises what was there, so it teaches nothing more).
* A thumbs down without a reason that matches is counted and teaches nothing: it does not say
  what was wrong.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from services.assistant.hemisphere import Balance
from services.assistant.profile.records import ProfileRecord, Tone, Verbosity
from voka.assistant.v1 import assistant_pb2

STEP = 0.1  # a reason's move towards one side
TOWARDS = 0.25  # a thumbs up's share of the way to the rated reply's balance
NEUTRAL = Balance(0.5, 0.5)


@dataclass(frozen=True)
class Lesson:
    """What one phrase teaches."""

    verbosity: Verbosity | None = None
    tone: Tone | None = None
    language: str | None = None
    technical_step: float = 0.0


def _words(alternatives: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


CONCISE = Lesson(verbosity=assistant_pb2.VERBOSITY_CONCISE)
DETAILED = Lesson(verbosity=assistant_pb2.VERBOSITY_DETAILED)
CASUAL = Lesson(tone=assistant_pb2.TONE_CASUAL)
FORMAL = Lesson(tone=assistant_pb2.TONE_FORMAL)
WARMER = Lesson(technical_step=-STEP)
PRECISER = Lesson(technical_step=STEP)

PHRASES: tuple[tuple[re.Pattern[str], Lesson], ...] = (
    (
        _words(
            "too long|too verbose|shorter|more concise|be brief|short(?:er)? answers"
            "|brief answers|demasiado larg[ao]|más cort[ao]s?|respuestas cortas|sé breve"
        ),
        CONCISE,
    ),
    (
        _words(
            "too short|more details?|more detailed|longer|in depth|detailed answers"
            "|demasiado cort[ao]|más detalles?|más detallad[ao]s?|más larg[ao]s?"
            "|respuestas largas"
        ),
        DETAILED,
    ),
    (_words("too formal|more casual|less formal|demasiado formal|más informal"), CASUAL),
    (
        _words(
            "too casual|too informal|more formal|more professional|demasiado informal|más formal"
        ),
        FORMAL,
    ),
    (
        _words(
            "too cold|robotic|warmer|more empathetic|friendlier|more friendly"
            "|demasiado frí[oa]|más cálid[oa]|más amable|más empátic[oa]"
        ),
        WARMER,
    ),
    (
        _words(
            "too vague|imprecise|inaccurate|more precise|more technical|demasiado vag[oa]"
            "|impreciso|más precis[oa]|más técnic[oa]"
        ),
        PRECISER,
    ),
    (_words("in spanish|en español|en castellano"), Lesson(language="es")),
    (_words("in english|en inglés"), Lesson(language="en")),
)


def lessons(text: str) -> list[Lesson]:
    """What a reason or a stated preference teaches; [] when no phrase matches."""
    return [lesson for pattern, lesson in PHRASES if pattern.search(text)]


def learned_balance(profile: ProfileRecord) -> Balance | None:
    if profile.technical is None or profile.emotional is None:
        return None
    return Balance(profile.technical, profile.emotional)


def with_technical(profile: ProfileRecord, technical: float) -> ProfileRecord:
    technical = round(min(max(technical, 0.0), 1.0), 6)
    return dataclasses.replace(profile, technical=technical, emotional=round(1 - technical, 6))


def apply(profile: ProfileRecord, taught: list[Lesson], start: Balance) -> ProfileRecord:
    """`profile` after `taught`; a step is taken from `start`, the balance of the reply the
    reason was about (so rating one reply again does not step twice)."""
    for lesson in taught:
        if lesson.verbosity is not None:
            profile = dataclasses.replace(profile, verbosity=lesson.verbosity)
        if lesson.tone is not None:
            profile = dataclasses.replace(profile, tone=lesson.tone)
        if lesson.language is not None:
            profile = dataclasses.replace(profile, language=lesson.language)
        if lesson.technical_step:
            profile = with_technical(profile, start.technical + lesson.technical_step)
    return profile


def approve(profile: ProfileRecord, rated: Balance) -> ProfileRecord:
    """A thumbs up: a quarter of the way towards the balance of the reply it was given to."""
    base = learned_balance(profile) or NEUTRAL
    return with_technical(profile, base.technical + TOWARDS * (rated.technical - base.technical))
