"""Token-budget trimming of the history with the left-out turns' summary, and the system prompt
the balance, context, profile and memories shape."""

from __future__ import annotations

from collections.abc import Sequence

from services.assistant import prompt, summary
from services.assistant.hemisphere import Balance, temperature
from services.assistant.providers.base import ChatMessage, ToolCall


def words(text: str) -> int:
    """A stand-in tokenizer with predictable counts: one token per word."""
    return len(text.split())


def turn(i: int) -> list[ChatMessage]:
    return [ChatMessage("user", f"question {i} " + "word " * 8),
            ChatMessage("assistant", f"answer {i} " + "word " * 8)]  # fmt: skip


def system(left_out: Sequence[prompt.Turn]) -> str:
    return prompt.system_text(Balance(0.5, 0.5), "", {}, len(left_out))


def test_everything_fits_in_a_large_budget() -> None:
    history = [turn(i) for i in range(3)]
    built = prompt.build(system, history, ChatMessage("user", "now"), 10_000, words)
    assert built.dropped_turns == 0
    assert [m.content for m in built.messages[1:-1]] == [m.content for t in history for m in t]
    assert "not shown" not in built.messages[0].content


def test_oldest_whole_turns_are_dropped_and_the_prompt_says_how_many() -> None:
    history = [turn(i) for i in range(6)]
    message = ChatMessage("user", "now")
    head = prompt.tokens(ChatMessage("system", system(history)), words)
    per_turn = sum(prompt.tokens(m, words) for m in turn(0))
    budget = head + prompt.tokens(message, words) + 2 * per_turn + 1
    built = prompt.build(system, history, message, budget, words)
    assert built.dropped_turns == 4
    assert built.messages[1].content.startswith("question 4")
    assert built.messages[-2].content.startswith("answer 5")
    assert built.messages[-1] == message
    assert "(4 earlier turns of this conversation are not shown.)" in built.messages[0].content
    assert sum(prompt.tokens(m, words) for m in built.messages) <= budget


def test_a_turn_with_tool_calls_is_kept_or_dropped_whole() -> None:
    call = ToolCall("c1", "add", {"a": 1, "b": 2})
    tooled = [
        ChatMessage("user", "add"),
        ChatMessage("assistant", "", (call,)),
        ChatMessage("tool", "3", tool_call_id="c1"),
        ChatMessage("assistant", "3"),
    ]
    message = ChatMessage("user", "thanks")
    needed = sum(prompt.tokens(m, words) for m in tooled) - 1
    budget = (
        prompt.tokens(ChatMessage("system", system([tooled])), words)
        + prompt.tokens(message, words)
        + needed
    )
    built = prompt.build(system, [tooled], message, budget, words)
    assert built.dropped_turns == 1
    assert len(built.messages) == 2


def test_balance_and_context_shape_the_system_prompt_and_temperature() -> None:
    technical, emotional = Balance(0.9, 0.1), Balance(0.1, 0.9)
    cool = prompt.system_text(
        technical, "Answer in Spanish.", {"level": "expert", "interests": ["physics", "jazz"]}
    )
    warm = prompt.system_text(emotional, "", {})
    assert "precise" in cool
    assert "empathetic" in warm
    assert "Answer in Spanish." in cool
    assert "level: expert; interests: physics, jazz" in cool
    assert temperature(technical) < temperature(Balance(0.5, 0.5)) < temperature(emotional)


def test_left_out_turns_are_summarised_in_the_system_prompt_within_the_budget() -> None:
    history = [turn(i) for i in range(6)]
    message = ChatMessage("user", "now")

    def summarised(left_out: Sequence[prompt.Turn]) -> str:
        return prompt.system_text(
            Balance(0.5, 0.5), "", {}, len(left_out), summary=summary.extractive(left_out)
        )

    budget = 160
    built = prompt.build(summarised, history, message, budget, words)
    head = built.messages[0].content
    assert 0 < built.dropped_turns < 6
    assert summary.LEAD in head
    left_out = [f'"question {i} word' for i in range(built.dropped_turns)]
    assert all(point in head for point in left_out)
    assert f'"question {built.dropped_turns} ' not in head  # a kept turn is not summarised
    assert sum(prompt.tokens(m, words) for m in built.messages) <= budget


def test_a_long_summary_keeps_the_newest_left_out_turns_within_its_bound() -> None:
    turns = [[ChatMessage("user", f"topic {i} " + "x" * 200)] for i in range(40)]
    text = summary.extractive(turns)
    assert len(text) <= summary.SUMMARY_CHARS
    assert '"topic 39 x' in text
    assert '"topic 0 x' not in text
    assert summary.extractive([]) == ""


def test_memories_and_preferences_shape_the_system_prompt() -> None:
    text = prompt.system_text(
        Balance(0.5, 0.5), "", {}, memories=["My name is Ana.", "Vivo en Valencia."],
        preferences=["Answer in Spanish."],
    )  # fmt: skip
    assert "What the user told you in earlier conversations:\n- My name is Ana.\n- Vivo en" in text
    assert "Answer in Spanish." in text
    assert "earlier conversations" not in prompt.system_text(Balance(0.5, 0.5), "", {})
