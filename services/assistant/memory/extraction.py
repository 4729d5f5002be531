"""What is worth remembering in a user's message: stated facts about themselves, preferences
and corrections, in English and Spanish.

The embedded model (SmolLM2-135M) cannot be trusted to extract facts, so the extractor in use is
rule-based: each sentence that is a statement (not a question) and matches one of the patterns
below becomes a memory in the user's own words, and its `source` says `extractor/rules`. An
extractor backed by a capable model plugs in behind `Extractor` and names itself the same way.

A fact about a single-valued thing (name, home, work, birthday) carries a slot: a newer memory
of the same slot replaces the older one. "No, actually …" and "en realidad …" mark a correction:
the rest of the sentence is matched for its slot, so "No, actually I live in Madrid" replaces
"I live in Paris"."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from services.assistant.memory.records import Kind
from voka.assistant.v1 import assistant_pb2

FACT = assistant_pb2.MEMORY_KIND_FACT
PREFERENCE = assistant_pb2.MEMORY_KIND_PREFERENCE
CORRECTION = assistant_pb2.MEMORY_KIND_CORRECTION
MAX_CHARS = 500  # the longest memory (Memory.content's bound)
RULES = "extractor/rules"


@dataclass(frozen=True)
class Candidate:
    """A memory an extractor proposes."""

    content: str
    kind: Kind
    slot: str | None


class Extractor(Protocol):
    """Turns a user's message into memories worth keeping."""

    @property
    def source(self) -> str:
        """What `Memory.source` says for its memories."""

    async def extract(self, message: str) -> list[Candidate]:
        """The memories in `message`; [] when there is nothing to remember."""


def _words(alternatives: str) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


# (slot, pattern): the first that matches names the slot of a fact.
SLOTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("name", _words("my name is|i'?m called|i am called|call me|me llamo|mi nombre es|llámame")),
    ("home", _words("i live in|i'?m from|i am from|vivo en|soy de")),
    (
        "work",
        _words(
            "i work (?:as|at|for|in)|my job is|i'?m working as"
            "|trabajo (?:como|en|de|para)|mi trabajo es"
        ),
    ),
    ("birthday", _words("my birthday is|i was born on|mi cumpleaños es|nací el")),
)
FACTS = _words(
    "my (?:favou?rite|wife|husband|partner|son|daughter|dog|cat)|i'?m allergic"
    "|i am allergic|i speak|soy alérgic[oa]|mi (?:\\w+ )?favorit[oa]"
    "|mi (?:esposa|esposo|pareja|hijo|hija|perro|gato)"
)
PREFERENCES = _words(
    "i prefer|i'?d prefer|i (?:really )?(?:like|love|hate|enjoy)|i don'?t like"
    "|please (?:always|never)|prefiero|(?:no )?me gusta|me encanta|odio"
)
CORRECTION_LEAD = re.compile(
    r"^\s*(?:no,?\s+actually|actually,|no,?\s+i meant|correction:|sorry,\s+i meant|"
    r"no,?\s+en realidad|en realidad,?|perdón,?\s+quise decir)\s*,?\s*",
    re.IGNORECASE,
)
SENTENCES = re.compile(r"(?<=[.!?¡¿\n])\s+|\n")


def slot_of(sentence: str) -> str | None:
    return next((slot for slot, pattern in SLOTS if pattern.search(sentence)), None)


def candidate(sentence: str) -> Candidate | None:
    """The memory one sentence holds, if any."""
    sentence = sentence.strip()
    if not sentence or sentence.endswith("?") or sentence.startswith("¿"):
        return None
    content = sentence[:MAX_CHARS]
    lead = CORRECTION_LEAD.match(sentence)
    if lead:
        return Candidate(content, CORRECTION, slot_of(sentence[lead.end() :]))
    slot = slot_of(sentence)
    if slot is not None:
        return Candidate(content, FACT, slot)
    if PREFERENCES.search(sentence):
        return Candidate(content, PREFERENCE, None)
    if FACTS.search(sentence):
        return Candidate(content, FACT, None)
    return None


class RuleExtractor:
    """The rule-based extractor (English and Spanish patterns above)."""

    @property
    def source(self) -> str:
        return RULES

    async def extract(self, message: str) -> list[Candidate]:
        found = (candidate(sentence) for sentence in SENTENCES.split(message))
        return [c for c in found if c is not None]
