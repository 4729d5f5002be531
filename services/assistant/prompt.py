"""The message list one reply is generated from: a system prompt (persona, tone from the
hemisphere balance, the conversation's instructions, the per-request context), as many earlier
turns as fit the token budget, and the new user message.

Over budget, the oldest *whole* turns are dropped (never half a turn: a tool result without its
call confuses models) and the system prompt says how many were left out. Dropping, not
summarising: a summary would cost one more generation per trimmed turn, which the small local
model cannot afford and does badly.
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


def system_text(balance: Balance, extra: str, context: Mapping[str, Any], dropped: int = 0) -> str:
    """The system prompt: persona, tone, instructions, context and the trimming note."""
    parts = [PERSONA, instructions(balance)]
    if extra:
        parts.append(extra)
    if context:
        facts = "; ".join(f"{key}: {_plain(value)}" for key, value in context.items())
        parts.append(f"About the user: {facts}.")
    if dropped:
        parts.append(f"({dropped} earlier turns of this conversation are not shown.)")
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
    system: Callable[[int], str],
    history: Sequence[Turn],
    message: ChatMessage,
    budget: int,
    count: Counter,
) -> Prompt:
    """Newest turns first until the budget is spent; `system(dropped)` writes the system
    prompt for a given number of dropped turns (its note is counted with the worst case)."""
    worst = ChatMessage("system", system(len(history)))
    left = budget - tokens(worst, count) - tokens(message, count)
    kept: list[Turn] = []
    for turn in reversed(history):
        cost = sum(tokens(m, count) for m in turn)
        if cost > left:
            break
        kept.append(turn)
        left -= cost
    dropped = len(history) - len(kept)
    earlier = [m for turn in reversed(kept) for m in turn]
    head = ChatMessage("system", system(dropped))
    return Prompt((head, *earlier, message), dropped)
