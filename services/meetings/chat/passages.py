"""Pieces of a project's content (summaries, stretches of transcript, descriptions, notes, chat
messages) as passages that chat and search rank against a question, so both answer from the
same ranking.

Relevance is lexical: the share of the question's words (case-folded, short and common words
left out) that a passage contains, 0 to 1. No embedding model is packaged with the service, so
this is what "semantic" search is here; ties go to the newest content.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.meetings.meetings.records import SegmentRecord
from voka.meetings.v1 import knowledge_pb2

MAX_TERMS = 16
WINDOW_CHARS = 500  # a stretch of transcript: consecutive segments up to about this long
SNIPPET_CHARS = 300
_WORD = re.compile(r"\w+")
_COMMON = """the a an and or of to in on at for is are was were be been it this that with what
who when where which how did do does we our you your they their he she his her about from by as
any all has have had not no yes el la los las de del y o en que un una por para con"""
STOPWORDS = frozenset(_COMMON.split())


@dataclass(frozen=True)
class Passage:
    """One piece of content and where it comes from (the fields of a `SourceRef`)."""

    kind: int
    text: str
    title: str
    time: datetime | None = None
    project_id: str | None = None
    meeting_id: str = ""
    recording_id: str = ""
    start_ms: int | None = None
    end_ms: int | None = None
    chat_id: str = ""
    client_id: str = ""

    @property
    def key(self) -> tuple[str, ...]:
        """Unique per passage: the last tie-breaker, so pages of a ranking never shift."""
        return (str(self.kind), self.meeting_id, self.recording_id, str(self.start_ms),
                self.chat_id, self.client_id, self.project_id or "")  # fmt: skip


@dataclass(frozen=True)
class Ranked:
    passage: Passage
    score: float


def terms(query: str) -> tuple[str, ...]:
    """The query's distinct folded words that say something (at most 16)."""
    words = (w for w in _WORD.findall(query.casefold()) if len(w) > 1 and w not in STOPWORDS)
    return tuple(dict.fromkeys(words))[:MAX_TERMS]


def score(words: Sequence[str], text: str) -> float:
    """The share of `words` found in `text`; 0 without words."""
    if not words:
        return 0.0
    folded = text.casefold()
    return sum(1 for w in words if w in folded) / len(words)


def rank(passages: Iterable[Passage], words: Sequence[str]) -> list[Ranked]:
    """Best first; equal scores newest first, then a fixed order."""
    ranked = [Ranked(p, score(words, p.text)) for p in passages]
    ranked.sort(key=lambda r: r.passage.key)
    ranked.sort(key=lambda r: (r.score, r.passage.time or datetime.min), reverse=True)
    return ranked


def snippet(text: str, words: Sequence[str], limit: int = SNIPPET_CHARS) -> str:
    """About `limit` characters of `text` around its first match (its start without one)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    folded = text.casefold()
    hits = [i for i in (folded.find(w) for w in words) if i >= 0]
    start = max(0, min(hits) - limit // 3) if hits else 0
    start = min(start, len(text) - limit)
    cut = text[start : start + limit]
    return ("..." if start else "") + cut + ("..." if start + limit < len(text) else "")


def transcript_windows(
    meeting_id: str, title: str, time: datetime, project_id: str | None,
    parts: Sequence[SegmentRecord],
) -> list[Passage]:  # fmt: skip
    """The meeting's transcript in stretches of consecutive segments of one recording."""
    windows: list[Passage] = []
    current: list[SegmentRecord] = []

    def close() -> None:
        if current:
            windows.append(Passage(
                kind=knowledge_pb2.SOURCE_KIND_TRANSCRIPT,
                text=" ".join(s.text.strip() for s in current),
                title=title, time=time, project_id=project_id, meeting_id=meeting_id,
                recording_id=current[0].recording_id, start_ms=current[0].start_ms,
                end_ms=current[-1].end_ms,
            ))  # fmt: skip
            current.clear()

    for part in parts:
        size = sum(len(s.text) for s in current)
        if current and (part.recording_id != current[0].recording_id or size >= WINDOW_CHARS):
            close()
        if part.text.strip():
            current.append(part)
    close()
    return windows
