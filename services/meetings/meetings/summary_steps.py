"""A summary of a transcript of any length, never truncated: when the transcript does not fit
the summary model's context it is summarised in steps (map-reduce).

* Map: the transcript is cut into sections that each fit (at segment boundaries; a segment
  longer than a section at word boundaries), and each section is summarised in the final
  format, `concurrency` calls at a time.
* Reduce: the section summaries are combined into the final summary; while they are still too
  long for one call, consecutive groups of them are combined first (each group at least two, so
  every round at least halves them).

Tokens are estimated, not counted (the model's tokenizer lives at the assistant service): one
token per `CHARS_PER_TOKEN` characters, rounded up. The tokenizers of the local models (SmolLM2,
Qwen2.5) average about 4 characters a token on English prose, so 3 leaves room for Spanish,
names and numbers. `TEMPLATE_TOKENS` more are kept for what the assistant adds around the
messages: the chat template's role markers and its own system lines (persona and hemisphere
balance, about 45 tokens).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from services.meetings.meetings import summaries
from voka.assistant.v1 import assistant_pb2

CHARS_PER_TOKEN = 3
TEMPLATE_TOKENS = 128
# The least transcript one call must be able to take, in characters: below it the settings
# (a context window smaller than the answer and the prompt) leave no room to summarise.
MIN_MATERIAL_CHARS = 400
# Assumed when the assistant states no context window for the model: the local models' n_ctx.
ASSUMED_CONTEXT_TOKENS = 2048
NOTE_HEADER_CHARS = len("Part 9999:\n\n\n")  # what combine_prompt adds around each note

Messages = list[assistant_pb2.ChatMessage]
Complete = Callable[[Messages], Awaitable[str]]


class NoRoomError(ValueError):
    """The model's context cannot take the prompt, its answer and some transcript."""


@dataclass(frozen=True)
class Request:
    """What one summary is asked with, whatever its length."""

    title: str
    people: Sequence[str]
    instructions: str
    language: str


@dataclass(frozen=True)
class Budget:
    """The summary model's context window and the tokens its answer may take."""

    context_tokens: int
    answer_tokens: int

    def room(self, empty: Messages) -> int:
        """Characters of material that fit beside the prompt `empty` (the prompt without its
        material) and the answer."""
        used = tokens("".join(m.content for m in empty)) + TEMPLATE_TOKENS + self.answer_tokens
        room = (self.context_tokens - used) * CHARS_PER_TOKEN
        if room < MIN_MATERIAL_CHARS:
            raise NoRoomError(
                f"a context of {self.context_tokens} tokens leaves no room for the transcript "
                f"beside a prompt of {used - self.answer_tokens} and an answer of "
                f"{self.answer_tokens} tokens"
            )
        return room


@dataclass(frozen=True)
class Outcome:
    """The final answer and how many calls of each step it took (figures for logs and tests)."""

    answer: str
    map_calls: int
    reduce_calls: int


def tokens(text: str) -> int:
    """The estimated token count of `text`."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def sections(pieces: Sequence[str], limit: int) -> list[str]:
    """`pieces` (the transcript's segments, in order) packed into sections of at most `limit`
    characters, every character kept; a piece longer than `limit` is cut at spaces (a word
    longer than `limit`, anywhere)."""
    words = [w for piece in pieces for w in _cut(piece.strip(), limit) if w]
    found: list[str] = []
    current = ""
    for word in words:
        joined = f"{current} {word}" if current else word
        if len(joined) <= limit:
            current = joined
            continue
        found.append(current)
        current = word
    return [*found, current] if current else found


def _cut(piece: str, limit: int) -> list[str]:
    """`piece` whole when it fits, else its words, each cut to `limit`."""
    if len(piece) <= limit:
        return [piece]
    return [w[i : i + limit] for w in piece.split() for i in range(0, len(w), limit)]


async def summarise(
    ask: Request, segments: Sequence[str], budget: Budget, complete: Complete, *,
    concurrency: int,
) -> Outcome:  # fmt: skip
    """The model's final summary answer of the transcript made of `segments`."""
    whole = " ".join(s.strip() for s in segments if s.strip())
    empty = summaries.prompt(ask.title, ask.people, "", instructions=ask.instructions,
                             language=ask.language)  # fmt: skip
    if len(whole) <= budget.room(empty):
        return Outcome(await complete(summaries.prompt(
            ask.title, ask.people, whole, instructions=ask.instructions, language=ask.language,
        )), 0, 0)  # fmt: skip
    widest = summaries.section_prompt(
        ask.title, ask.people, "", part=99_999, parts=99_999, instructions=ask.instructions,
        language=ask.language,
    )  # fmt: skip
    parts = sections(segments, budget.room(widest))
    limit = asyncio.Semaphore(concurrency)

    async def bounded(messages: Messages) -> str:
        async with limit:
            return await complete(messages)

    notes = await _all([bounded(summaries.section_prompt(
        ask.title, ask.people, section, part=i, parts=len(parts), instructions=ask.instructions,
        language=ask.language,
    )) for i, section in enumerate(parts, 1)])  # fmt: skip
    rounds = 0
    while len(groups := _groups(ask, notes, budget)) > 1:
        notes = await _all([bounded(_combine(ask, g)) for g in groups])
        rounds += len(groups)
    return Outcome(await complete(_combine(ask, notes)), len(parts), rounds + 1)


async def _all(calls: Sequence[Coroutine[Any, Any, str]]) -> list[str]:
    """The answers of `calls`, in order; the first failure cancels the others and raises as
    it is (a refusal stays a refusal)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(call) for call in calls]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from failed
    return [task.result() for task in tasks]


def _combine(ask: Request, notes: Sequence[str]) -> Messages:
    return summaries.combine_prompt(ask.title, ask.people, notes, instructions=ask.instructions,
                                    language=ask.language)  # fmt: skip


def _groups(ask: Request, notes: Sequence[str], budget: Budget) -> list[list[str]]:
    """Consecutive notes packed into groups whose combine prompt fits; each group takes at
    least two notes (a lone note would come back as long as it went), so every round at least
    halves them; the count is then slightly over the estimate for at most one note a group."""
    room = budget.room(_combine(ask, []))
    found: list[list[str]] = []
    current: list[str] = []
    size = 0
    for note in notes:
        more = len(note.strip()) + NOTE_HEADER_CHARS
        if len(current) < 2 or size + more <= room:
            current.append(note)
            size += more
            continue
        found.append(current)
        current, size = [note], more
    if len(current) == 1 and found:
        found[-1].append(current[0])
    elif current:
        found.append(current)
    return found
