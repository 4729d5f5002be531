"""The message list one reply is generated from: a system prompt (persona, tone from the
hemisphere balance, the conversation's instructions, the user's profile, what is remembered
about the user, the per-request context), as many earlier turns as fit the token budget, and
the new user message.

Over budget, the oldest *whole* turns are left out (never half a turn: a tool result without its
call confuses models); the system prompt says how many, and carries their summary
(`summary.extractive`, bounded, so the worst case is known before turns are chosen).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.assistant.hemisphere import Balance, instructions
from services.assistant.providers.base import ChatMessage

PERSONA = "You are Vicky, a helpful assistant."
MESSAGE_OVERHEAD = 4  # role markers and separators chat templates add per message

Turn = Sequence[ChatMessage]
Counter = Callable[[str], int]


@dataclass(frozen=True)
class Prompt:
    """The finished message list and how many earlier turns did not fit."""

    messages: tuple[ChatMessage, ...]
    dropped_turns: int


def system_text(
    balance: Balance,
    extra: str,
    context: Mapping[str, Any],
    dropped: int = 0,
    *,
    summary: str = "",
    memories: Sequence[str] = (),
    preferences: Sequence[str] = (),
    transcripts: str = "",
) -> str:
    """The system prompt: persona, tone, the profile's preferences, instructions, memories,
    the transcriptions the turn refers to (bounded: `transcripts`), context, and the trimming
    note with the left-out turns' summary."""
    parts = [PERSONA, instructions(balance), *preferences]
    if extra:
        parts.append(extra)
    if memories:
        remembered = "".join(f"\n- {memory}" for memory in memories)
        parts.append(f"What the user told you in earlier conversations:{remembered}")
    if transcripts:
        parts.append(transcripts)
    if context:
        facts = "; ".join(f"{key}: {_plain(value)}" for key, value in context.items())
        parts.append(f"About the user: {facts}.")
    if dropped:
        parts.append(f"({dropped} earlier turns of this conversation are not shown.)")
    if summary:
        parts.append(summary)
    return "\n".join(parts)


def _plain(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return value if isinstance(value, str) else json.dumps(value)


def tokens(message: ChatMessage, count: Counter) -> int:
    """Tokens one message takes in the prompt, tool calls included."""
    calls = "".join(c.name + json.dumps(c.arguments) for c in message.tool_calls)
    return count(message.content + calls) + MESSAGE_OVERHEAD


def build(
    system: Callable[[Sequence[Turn]], str],
    history: Sequence[Turn],
    message: ChatMessage,
    budget: int,
    count: Counter,
) -> Prompt:
    """Newest turns first until the budget is spent; `system(left_out)` writes the system
    prompt for the turns left out (its note and summary are counted with the worst case, all
    of them; should the actual summary come out longer, one more turn is left out)."""
    costs = [sum(tokens(m, count) for m in turn) for turn in history]
    worst = ChatMessage("system", system(history))
    left = budget - tokens(worst, count) - tokens(message, count)
    start = len(history)
    while start and costs[start - 1] <= left:
        start -= 1
        left -= costs[start]
    while True:
        head = ChatMessage("system", system(history[:start]))
        used = tokens(head, count) + tokens(message, count) + sum(costs[start:])
        if used <= budget or start == len(history):
            break
        start += 1
    earlier = [m for turn in history[start:] for m in turn]
    return Prompt((head, *earlier, message), start)
