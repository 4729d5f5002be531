"""Reading a model's summary answer, without a model: the format asked for, and the due dates
a larger model writes out instead of as YYYY-MM-DD."""

from __future__ import annotations

import pytest

from services.meetings.meetings.records import Commitment
from services.meetings.meetings.summaries import due_date, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-22", "2026-12-22"),
        ("by January 8, 2027", "2027-01-08"),
        ("December 22nd, 2026", "2026-12-22"),
        ("8 January 2027", "2027-01-08"),
        ("antes del 8 de enero de 2027", "2027-01-08"),
        ("February 30, 2027", ""),
        ("May 2027", ""),
        ("none", ""),
    ],
)
def test_due_dates_are_read_iso_or_written_out(text: str, expected: str) -> None:
    assert due_date(text) == expected


def test_commitments_keep_owner_description_and_due_date() -> None:
    answer = """SUMMARY: The app launches in January.
DECISIONS:
- The app will launch on January 15, 2027.
COMMITMENTS:
- Marta | write the press release | January 8, 2027
- Luis | fix the login bug | 2026-12-22
- Someone should update the site by 3 February 2027"""
    found = parse(answer, ["Marta", "Luis"], "Marta: yes. Luis: fine.")
    assert found.decisions == ("The app will launch on January 15, 2027.",)
    assert found.commitments == (
        Commitment(description="write the press release", owner="Marta", due_date="2027-01-08"),
        Commitment(description="fix the login bug", owner="Luis", due_date="2026-12-22"),
        Commitment(
            description="Someone should update the site by 3 February 2027",
            due_date="2027-02-03",
        ),
    )
    assert found.participants == ("Marta", "Luis")
