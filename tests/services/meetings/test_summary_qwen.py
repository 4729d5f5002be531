"""The slow tier: a meeting summary written by the Qwen2.5 1.5B `make up` gives the assistant
(and so the meetings summaries, which use the assistant's default model), on a scripted
transcript: the summary's decisions, owners and due dates are the meeting's. The prompt and the
parser are the meetings service's own (summaries.py). Skips outside `make test-slow`."""

from __future__ import annotations

from typing import Any, cast

import pytest

from services.assistant.convert import ROLES
from services.meetings.meetings import summaries
from services.meetings.meetings.records import SummaryContent
from tests.fixtures.local_model import qwen_gguf
from voka.gguf import load_llama

pytestmark = pytest.mark.slow

TITLE = "Mobile app launch"
INVITED = ("Ana", "Luis", "Marta")
TRANSCRIPT = """Ana: Good morning, everyone. Today we decide the launch of the mobile app.
Luis: Testing is finished. I think we can launch on 2027-01-15.
Ana: Agreed. Decision: the app launches on 2027-01-15.
Ana: We also keep the price at 4 euros a month. That is decided.
Marta: I will write the press release by 2027-01-08.
Luis: And I will fix the login bug by 2026-12-22.
Ana: Good. Thank you all, see you next week."""


@pytest.fixture(scope="module")
def summary() -> SummaryContent:
    llm = load_llama(qwen_gguf(), context_size=4096, threads=2)
    messages = summaries.prompt(TITLE, INVITED, TRANSCRIPT, instructions="", language="")
    answer = cast(
        "dict[str, Any]",
        llm.create_chat_completion(
            messages=[{"role": ROLES[m.role], "content": m.content} for m in messages],  # type: ignore[misc]
            temperature=0.0,
            max_tokens=400,
        ),
    )
    return summaries.parse(answer["choices"][0]["message"]["content"], INVITED, TRANSCRIPT)


def test_the_decisions_are_the_meetings(summary: SummaryContent) -> None:
    decisions = " ".join(summary.decisions).lower()
    assert "launch" in decisions, summary
    assert "2027-01-15" in decisions or "january 15, 2027" in decisions, summary
    # The price is decided too; the model may put it in the summary's text instead.
    assert "4 euros" in f"{decisions} {summary.text}".lower(), summary


def test_each_commitment_has_its_owner_and_due_date(summary: SummaryContent) -> None:
    found = {(c.owner, c.due_date): c.description.lower() for c in summary.commitments}
    assert "press release" in found.get(("Marta", "2027-01-08"), ""), summary
    assert "bug" in found.get(("Luis", "2026-12-22"), ""), summary


def test_the_participants_are_the_people_who_spoke(summary: SummaryContent) -> None:
    assert set(INVITED) <= set(summary.participants), summary
