"""How a summary is asked of a model and read back.

The packaged local model is tiny (SmolLM2-135M), so the prompt asks for one strict, simple
format (headings and dash bullets) and the parser is tolerant: headings with or without colons,
Markdown, any bullet style, a missing section, or no format at all (then the whole answer is the
summary's text). Parsing never raises; what the model said is stored verbatim beside it.
`make up`'s Qwen2.5 1.5B (where memory allows) follows the format but writes due dates out
("January 8, 2027"), so those are read too, in English and Spanish.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from services.meetings.meetings.records import Commitment, SummaryContent
from voka.assistant.v1 import assistant_pb2

MAX_ITEMS = 20
MAX_ITEM_CHARS = 500
MAX_TEXT_CHARS = 5000
FORMAT = """SUMMARY: <two or three sentences>
KEY POINTS:
- <point>
DECISIONS:
- <what the meeting decided>
COMMITMENTS:
- <name of the person who will do it> | <what they will do> | <due date as YYYY-MM-DD, or none>
NEXT STEPS:
- <step>
PARTICIPANTS:
- <name>"""
SECTIONS = {
    "summary": "text", "overview": "text", "key points": "key_points",
    "highlights": "key_points", "decisions": "decisions", "commitments": "commitments",
    "action items": "commitments", "next steps": "next_steps", "participants": "participants",
    "attendees": "participants",
}  # fmt: skip
_HEADING = re.compile(r"^(" + "|".join(SECTIONS) + r")\b\s*:?\s*(.*)$", re.IGNORECASE)
_BULLET = re.compile(r"^(?:[-*\u2022+]|\d{1,2}[.)])\s+")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Dates written out, as larger models write them despite the format: "January 8, 2027",
# "8 January 2027", "8 de enero de 2027".
MONTHS = {
    name: number
    for names in (
        "january february march april may june july august september october november december",
        "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    )
    for number, name in enumerate(names.split(), 1)
}
_MONTH = "|".join(MONTHS)
_WRITTEN_DATE = re.compile(
    rf"\b(?:(?P<month1>{_MONTH})\s+(?P<day1>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<year1>\d{{4}})"
    rf"|(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:de\s+)?(?P<month2>{_MONTH}),?\s+(?:de\s+)?"
    rf"(?P<year2>\d{{4}}))\b",
    re.IGNORECASE,
)


def shorten(text: str, limit: int) -> str:
    """`text` within `limit` characters, keeping its start and its end (where decisions and
    next steps are usually said)."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} [...] {text[-half:]}"


SYSTEM = "You write short, factual meeting summaries."


def prompt(
    title: str, people: Sequence[str], transcript: str, *, instructions: str, language: str
) -> list[assistant_pb2.ChatMessage]:
    """The messages of the one CompleteChat call a transcript that fits the model's context
    takes (`summary_steps` says what happens to a longer one)."""
    return _ask(title, people, ["Transcript:", transcript], "Summarise this meeting.",
                instructions=instructions, language=language)  # fmt: skip


def section_prompt(
    title: str, people: Sequence[str], section: str, *, part: int, parts: int, instructions: str,
    language: str,
) -> list[assistant_pb2.ChatMessage]:  # fmt: skip
    """The map step of a long transcript: one section summarised in the final format, so
    that what it decided and who committed to what reach the combined summary."""
    return _ask(
        title, people, [f"Transcript, part {part} of {parts}:", section],
        f"Summarise this part ({part} of {parts}) of the meeting.",
        instructions=instructions, language=language,
    )  # fmt: skip


def combine_prompt(
    title: str, people: Sequence[str], notes: Sequence[str], *, instructions: str, language: str
) -> list[assistant_pb2.ChatMessage]:
    """The reduce step: summaries of consecutive parts of the meeting (or of groups of parts)
    combined into one, keeping every decision, commitment and date."""
    material = ["Summaries of consecutive parts of the meeting, in order:"]
    material += [f"Part {i}:\n{note.strip()}\n" for i, note in enumerate(notes, 1)]
    return _ask(
        title, people, material,
        "Combine these into one summary of the whole meeting; keep every decision, "
        "commitment and due date.", instructions=instructions, language=language,
    )  # fmt: skip


def _ask(
    title: str, people: Sequence[str], material: list[str], task: str, *, instructions: str,
    language: str,
) -> list[assistant_pb2.ChatMessage]:  # fmt: skip
    lines = [f"Meeting: {title}"]
    if people:
        lines.append(f"Invited: {', '.join(people)}")
    lines += [*material, "", f"{task} Answer in exactly this format and nothing else:", FORMAT]
    if language:
        lines.append(f"Write in the language {language}.")
    if instructions.strip():
        lines.append(instructions.strip())
    return [
        assistant_pb2.ChatMessage(role=assistant_pb2.MESSAGE_ROLE_SYSTEM, content=SYSTEM),
        assistant_pb2.ChatMessage(role=assistant_pb2.MESSAGE_ROLE_USER, content="\n".join(lines)),
    ]


def _clean(line: str) -> str:
    """A line without Markdown emphasis and heading marks."""
    return line.strip().lstrip("#").strip().replace("**", "").replace("__", "").strip()


def _commitment(item: str) -> Commitment:
    """`person | what | due` as asked; fewer parts are read as the description alone, with
    any ISO date found in it as the due date."""
    parts = [p.strip() for p in item.split("|")]
    if len(parts) >= 2:
        due = due_date(parts[2]) if len(parts) > 2 else ""
        return Commitment(description=parts[1] or parts[0], owner=parts[0] if parts[1] else "",
                          due_date=due)  # fmt: skip
    return Commitment(description=item, due_date=due_date(item))


def due_date(text: str) -> str:
    """The first date in `text` as YYYY-MM-DD: ISO as asked, or written out in English or
    Spanish; empty when there is none (or it is no calendar date)."""
    iso = _DATE.search(text)
    if iso:
        return iso.group(0)
    written = _WRITTEN_DATE.search(text)
    if not written:
        return ""
    found = {key[:-1]: value for key, value in written.groupdict().items() if value}
    try:
        return date(
            int(found["year"]), MONTHS[found["month"].lower()], int(found["day"])
        ).isoformat()
    except ValueError:  # "February 30, 2027"
        return ""


def parse(answer: str, invited: Sequence[str], transcript: str) -> SummaryContent:
    """The model's answer read into sections. Participants are the model's plus the invited
    people whose name the transcript says."""
    found: dict[str, list[str]] = {key: [] for key in set(SECTIONS.values())}
    current = "text"
    for raw in answer.splitlines():
        line = _clean(raw)
        heading = _HEADING.match(line)
        if heading:
            current = SECTIONS[heading.group(1).lower()]
            line = heading.group(2).strip()
        line = _BULLET.sub("", line).strip()
        if line and line.lower() not in ("none", "n/a", "-"):
            found[current].append(line[:MAX_ITEM_CHARS])
    said = transcript.casefold()
    named = [name for name in invited if name and name.casefold() in said]
    return SummaryContent(
        text=" ".join(found["text"])[:MAX_TEXT_CHARS],
        key_points=_unique(found["key_points"]),
        decisions=_unique(found["decisions"]),
        commitments=tuple(_commitment(i) for i in _unique(found["commitments"])),
        next_steps=_unique(found["next_steps"]),
        participants=_unique([*found["participants"], *named]),
    )


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))[:MAX_ITEMS]
