"""`Conversation.context_summary`: what the turns that no longer fit the token budget said,
sent to the model in their place.

The summary is extractive and says so: the opening of each left-out turn's user message, newest
kept when it runs long. A model-written summary would cost one more generation per trimmed turn,
which the embedded 135M model cannot afford and does badly; a capable provider's summary could
replace this function, not the way it is used."""

from __future__ import annotations

import re
from collections.abc import Sequence

from services.assistant.providers.base import ChatMessage

SUMMARY_CHARS = 600  # the summary's bound, so the prompt's worst case stays known
POINT_CHARS = 120  # of each turn's opening
LEAD = "Extractive summary (the user's own words, not a model's):"
SENTENCE_END = re.compile(r"(?<=[.!?])\s")


def opening(text: str) -> str:
    """The first sentence of `text`, at most POINT_CHARS."""
    first = SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    first = " ".join(first.split())
    return first if len(first) <= POINT_CHARS else first[: POINT_CHARS - 1] + "…"


def bound(budget: int) -> int:
    """The summary's characters for a prompt budget of `budget` tokens: SUMMARY_CHARS, or
    about a quarter of a small budget (a token is about four characters)."""
    return min(SUMMARY_CHARS, budget)


def extractive(turns: Sequence[Sequence[ChatMessage]], limit: int = SUMMARY_CHARS) -> str:
    """The summary of `turns` (oldest first) in at most `limit` characters; empty for none
    (or when not even one point fits)."""
    points: list[str] = []
    size = len(LEAD)
    for turn in reversed(turns):
        said = next((m.content for m in turn if m.role == "user" and m.content.strip()), "")
        if not said:
            continue
        point = f' "{opening(said)}"'
        if size + len(point) > limit:
            break
        points.append(point)
        size += len(point)
    return LEAD + "".join(reversed(points)) if points else ""
