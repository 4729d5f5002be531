"""The messages a project chat question is asked with, within a character budget.

What goes in, in this order, while the budget lasts (VOKA_MEETINGS_CHAT_CONTEXT_CHARS):
1. the project's own fields (title, status, progress, dates, hours, tags, description start);
2. its latest meetings, one line each (date, title, state);
3. the sources, best first: summaries, transcript stretches, agendas and the description,
   ranked against the question by its words and its meaning as Search ranks (`chat.hybrid`),
   then the newest of the rest, numbered [1], [2], ... for the answer to cite;
4. earlier questions and answers of the chat, newest first (none when `ephemeral`).
The question itself is always sent whole (at most 4000 characters, checked by the handler).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.meetings.chat import hybrid, passages
from services.meetings.chat.convert import source_ref
from services.meetings.chat.passages import Passage, Ranked
from services.meetings.chat.records import ChatRecord
from services.meetings.clients.convert import hours, status_word
from services.meetings.clients.project_content import ProjectContent
from services.meetings.meetings.records import MeetingRecord
from services.meetings.meetings.summaries import shorten
from voka.assistant.v1 import assistant_pb2
from voka.meetings.v1 import knowledge_pb2, meeting_pb2

HEADER_CHARS = 600
MEETING_LINES = 10
TURN_CHARS = 400
MIN_SOURCE_CHARS = 120
SYSTEM = (
    "You answer questions about one project using only the context given. Cite the sources "
    "you use as [1], [2]. If the context does not say, answer that you do not know."
)
_CITED = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class Prompt:
    messages: list[assistant_pb2.ChatMessage]
    citations: list[knowledge_pb2.Citation]


def _header(content: ProjectContent) -> str:
    p = content.project
    facts = [f"Project: {p.title}", f"Status: {status_word(p.status)}, {p.progress_percent}% done"]
    if p.start_date or p.due_date:
        facts.append(f"Dates: start {p.start_date or '-'}, due {p.due_date or '-'}")
    if p.estimated_centihours is not None or p.spent_centihours is not None:
        spent, estimated = hours(p.spent_centihours) or "0", hours(p.estimated_centihours) or "-"
        facts.append(f"Hours: {spent} spent of {estimated} estimated")
    if p.tags:
        facts.append(f"Tags: {', '.join(p.tags)}")
    if p.description:
        facts.append(f"Description: {p.description}")
    return shorten("\n".join(facts), HEADER_CHARS)


def _state(meeting: MeetingRecord, ended_before: datetime) -> str:
    name = meeting_pb2.MeetingState.Name(meeting.state_at(ended_before))  # type: ignore[arg-type]
    return name.removeprefix("MEETING_STATE_").lower()


def _meeting_lines(content: ProjectContent, ended_before: datetime) -> str:
    lines = [
        f"- {m.start_time.date().isoformat()} {m.title} ({_state(m, ended_before)})"
        for m in content.meetings[:MEETING_LINES]
    ]
    total = len(content.meetings)
    return f"Meetings ({total}, latest first):\n" + "\n".join(lines) if lines else "Meetings: none"


def _ranked(
    content: ProjectContent, words: Sequence[str], similar: Mapping[Passage, float]
) -> list[Ranked]:
    """The passages by the question's words and meaning fused (`chat.hybrid`), then those
    neither finds, newest first: a question with nothing to match still gets the latest."""
    found = content.passages()
    fused = hybrid.rank({p: p for p in found}, words, similar)
    chosen = {r.passage for r in fused}
    return fused + [r for r in passages.rank(found, words) if r.passage not in chosen]


def _sources(
    content: ProjectContent, words: Sequence[str], similar: Mapping[Passage, float],
    budget: int, max_sources: int,
) -> list[knowledge_pb2.Citation]:  # fmt: skip
    """The best passages, each trimmed to its share of what is left."""
    best = _ranked(content, words, similar)[:max_sources]
    cited: list[knowledge_pb2.Citation] = []
    for ranked in best:
        share = budget // max(1, len(best) - len(cited))
        if share < MIN_SOURCE_CHARS:
            break
        text = passages.snippet(ranked.passage.text, words, share)
        budget -= len(text)
        cited.append(knowledge_pb2.Citation(index=len(cited) + 1, source=source_ref(ranked.passage),
                                snippet=text, score=ranked.score))  # fmt: skip
    return cited


def _turns(history: Sequence[ChatRecord], budget: int) -> list[assistant_pb2.ChatMessage]:
    """Earlier messages, newest first while they fit, sent oldest first."""
    kept: list[assistant_pb2.ChatMessage] = []
    for record in reversed(history):
        text = shorten(record.content, TURN_CHARS)
        if len(text) > budget:
            break
        budget -= len(text)
        role = (
            assistant_pb2.MESSAGE_ROLE_USER
            if record.role == knowledge_pb2.CHAT_ROLE_USER
            else assistant_pb2.MESSAGE_ROLE_ASSISTANT
        )
        kept.append(assistant_pb2.ChatMessage(role=role, content=text))
    return kept[::-1]


def build(
    content: ProjectContent, question: str, history: Sequence[ChatRecord], *, budget: int,
    max_sources: int, language: str, ended_before: datetime,
    similar: Mapping[Passage, float],
) -> Prompt:  # fmt: skip
    """Meetings' states as read at `ended_before` (`MeetingRecord.state_at`); `similar`: the
    content's passages near the question's meaning (`ProjectContent.by_meaning`; empty when
    the question was not embedded)."""
    words = passages.terms(question)
    header = f"{_header(content)}\n{_meeting_lines(content, ended_before)}"
    header = header[: max(0, budget)]
    citations = _sources(content, words, similar, budget - len(header), max_sources)
    sources = "\n".join(f"[{c.index}] {_label(c.source)}: {c.snippet}" for c in citations)
    spent = len(header) + len(sources)
    answer_in = f"the language {language}" if language else "the language of the question"
    user = (f"{header}\n\nSources:\n{sources or '(none)'}\n\nQuestion: {question}\n"
            f"Answer briefly in {answer_in}.")  # fmt: skip
    messages = [
        assistant_pb2.ChatMessage(role=assistant_pb2.MESSAGE_ROLE_SYSTEM, content=SYSTEM),
        *_turns(history, budget - spent),
        assistant_pb2.ChatMessage(role=assistant_pb2.MESSAGE_ROLE_USER, content=user),
    ]
    return Prompt(messages, citations)


def _label(source: knowledge_pb2.SourceRef) -> str:
    kind = knowledge_pb2.SourceKind.Name(source.kind).removeprefix("SOURCE_KIND_").lower()
    when = source.time.ToDatetime().date().isoformat() if source.HasField("time") else ""
    return f"{kind} of '{source.title}' {when}".strip()


def cited(answer: str, citations: Sequence[knowledge_pb2.Citation]) -> list[knowledge_pb2.Citation]:
    """The sources the answer cites as [n]; all of them when it cites none (the model was given
    them all, and a small model rarely cites)."""
    used = {int(n) for n in _CITED.findall(answer)}
    chosen = [c for c in citations if c.index in used]
    return chosen or list(citations)
