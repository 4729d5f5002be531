"""Who is invited to a meeting: merging invitations into the list (one entry per e-mail or
account), and the moves in and out of the room."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from services.meetings.meetings.records import ParticipantRecord
from services.meetings.schema import fold, new_id
from voka.meetings.v1 import meeting_pb2


def same_person(record: ParticipantRecord, values: dict[str, Any]) -> bool:
    """The contract's identity of a participant: the same e-mail or the same account."""
    email, user = fold(values["email"]), values["user"]
    return bool(email and fold(record.email) == email) or bool(user and record.user == user)


def merge(
    meeting_id: str, current: Sequence[ParticipantRecord], invited: Sequence[dict[str, Any]]
) -> tuple[list[ParticipantRecord], list[ParticipantRecord]]:
    """(added, updated): someone already on the list (or earlier in `invited`) is updated
    with the new name and role instead of being listed twice; presence is kept."""
    people = list(current)
    known = {p.id for p in current}
    position = max((p.position for p in current), default=-1)
    for values in invited:
        index = next((i for i, p in enumerate(people) if same_person(p, values)), None)
        if index is None:
            position += 1
            people.append(ParticipantRecord(
                id=new_id(), meeting_id=meeting_id, position=position,
                presence=meeting_pb2.PARTICIPANT_PRESENCE_INVITED, **values,
            ))  # fmt: skip
        else:
            old = people[index]
            people[index] = dataclasses.replace(
                old, display_name=values["display_name"], role=values["role"],
                email=values["email"] or old.email, user=values["user"] or old.user,
            )  # fmt: skip
    added = [p for p in people if p.id not in known]
    updated = [p for p in people if p.id in known and p not in current]
    return added, updated


def joined(
    meeting_id: str, current: Sequence[ParticipantRecord], *, user: str, display_name: str,
    role: int, at: datetime,
) -> tuple[ParticipantRecord, bool]:  # fmt: skip
    """The caller's participant, JOINED now, and whether it is new (a viewer not invited
    becomes one)."""
    mine = next((p for p in current if p.user == user), None)
    if mine is None:
        position = max((p.position for p in current), default=-1) + 1
        record = ParticipantRecord(
            id=new_id(), meeting_id=meeting_id, position=position,
            display_name=display_name or user.removeprefix("users/"), email="", user=user,
            role=role, presence=meeting_pb2.PARTICIPANT_PRESENCE_JOINED, join_time=at,
        )  # fmt: skip
        return record, True
    return dataclasses.replace(
        mine, presence=meeting_pb2.PARTICIPANT_PRESENCE_JOINED, join_time=at,
        display_name=display_name or mine.display_name,
    ), False  # fmt: skip


def in_room(people: Sequence[ParticipantRecord]) -> list[ParticipantRecord]:
    return [p for p in people if p.presence == meeting_pb2.PARTICIPANT_PRESENCE_JOINED]
