"""Field checks of the meeting, participant, recording and summary requests (see
`services.meetings.validation` for the shared rules: every bad field at once, by its path,
with the parsed values beside them)."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from services.meetings.clients.validation import client_ref
from services.meetings.meetings.store import MEETING_ORDERS, MeetingQuery
from services.meetings.schema import fold
from services.meetings.validation import (
    ID,
    MAX_LONG_TEXT,
    MAX_TITLE,
    Checked,
    collect,
    email,
    instant,
    language,
    order_by,
    reference,
    resource_id,
    text,
)
from voka.errors import FieldViolation
from voka.meetings.v1 import meeting_pb2, meetings_pb2

MAX_DISPLAY_NAME = 100
MAX_PARTICIPANTS = 100
MAX_FILE_NAME = 255
MAX_INSTRUCTIONS = 2000
DEFAULT_LENGTH = timedelta(hours=1)
MEETING_FIELDS = ("title", "description", "project", "start_time", "end_time", "time_zone")
MEETING_OUTPUT_ONLY = (
    "participants", "state", "room_name", "room_url", "organizer", "recording_count",
    "transcript_state", "summary_state", "actual_start_time", "actual_end_time", "create_time",
    "update_time",
)  # fmt: skip


def time_zone(value: str, path: str) -> Checked:
    """An IANA zone name; empty is UTC."""
    value = value.strip()
    if not value:
        return {"time_zone": ""}, []
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return {}, [FieldViolation(path, "must be an IANA time zone like Europe/Madrid")]
    return {"time_zone": value}, []


def project_ref(value: str, path: str) -> Checked:
    """A meeting's project: empty for none."""
    return reference(value, "projects", "project_id", path)


def meeting_values(meeting: meeting_pb2.Meeting, paths: Iterable[str], prefix: str) -> Checked:
    """Column values of the meeting's fields in `paths` (all updatable ones at create)."""
    m = meeting
    checks = {
        "title": lambda p: text("title", m.title, p, limit=MAX_TITLE, required=True),
        "description": lambda p: text(
            "description", m.description, p, limit=MAX_LONG_TEXT, strip=False
        ),
        "project": lambda p: project_ref(m.project, p),
        "start_time": lambda p: instant("start_time", m, "start_time", p, required=True),
        "end_time": lambda p: instant("end_time", m, "end_time", p),
        "time_zone": lambda p: time_zone(m.time_zone, p),
    }
    return collect(checks[field](f"{prefix}.{field}") for field in paths)


def meeting_name_violations(name: str, path: str) -> list[FieldViolation]:
    return resource_id(name, "meetings", path)[1]


def time_order(start: datetime, end: datetime, path: str) -> list[FieldViolation]:
    return [] if end > start else [FieldViolation(path, "must be after start_time")]


def user_ref(value: str, path: str) -> tuple[str, list[FieldViolation]]:
    if not value:
        return "", []
    user_id, violations = resource_id(value, "users", path)
    return (f"users/{user_id}" if user_id else ""), violations


def display_name(value: str, path: str, *, required: bool = False) -> Checked:
    return text("display_name", value, path, limit=MAX_DISPLAY_NAME, required=required)


def participant(given: meeting_pb2.Participant, path: str) -> Checked:
    """One person to invite: a name, and an e-mail or account to tell them apart."""
    values, violations = collect([
        display_name(given.display_name, f"{path}.display_name", required=True),
        email(given.email, f"{path}.email"),
    ])  # fmt: skip
    user, bad_user = user_ref(given.user, f"{path}.user")
    if given.role not in meeting_pb2.ParticipantRole.values():
        violations.append(FieldViolation(f"{path}.role", f"unknown role {given.role}"))
    return {
        "display_name": values.get("display_name", ""),
        "email": values.get("contact_email", ""),
        "user": user,
        "role": given.role or meeting_pb2.PARTICIPANT_ROLE_ATTENDEE,
    }, violations + bad_user


def participants(
    given: Sequence[meeting_pb2.Participant], path: str, *, required: bool
) -> tuple[list[dict[str, Any]], list[FieldViolation]]:
    """The people to invite, each checked; at most MAX_PARTICIPANTS."""
    if required and not given:
        return [], [FieldViolation(path, "is required")]
    if len(given) > MAX_PARTICIPANTS:
        return [], [FieldViolation(path, f"at most {MAX_PARTICIPANTS} people at once")]
    found = [participant(p, f"{path}[{i}]") for i, p in enumerate(given)]
    return [values for values, _ in found], [v for _, bad in found for v in bad]


def participant_names(
    names: Sequence[str], meeting_id: str, path: str
) -> tuple[list[str], list[FieldViolation]]:
    """Ids of `meetings/{meeting}/participants/{id}` names, all of this meeting."""
    if not names:
        return [], [FieldViolation(path, "is required")]
    ids, violations = [], []
    for i, name in enumerate(names):
        found, bad = resource_id(name, f"meetings/{meeting_id}/participants", f"{path}[{i}]")
        violations += bad
        if found:
            ids.append(found)
    return ids, violations


def participant_filter(value: str, path: str) -> tuple[str, list[FieldViolation]]:
    """ListMeetings' participant: `users/{user}` or an e-mail (folded)."""
    if not value or value.startswith("users/"):
        return user_ref(value, path)
    values, violations = email(value, path)
    return fold(values.get("contact_email", "")), violations


def meeting_query(
    request: meetings_pb2.ListMeetingsRequest,
) -> tuple[MeetingQuery, list[FieldViolation]]:
    order, violations = order_by(request.order_by, MEETING_ORDERS)
    project, bad_project = project_ref(request.project, "project")
    client, bad_client = client_ref(request.client, "client")
    start_from, bad_from = instant("t", request, "start_time_from", "start_time_from")
    start_to, bad_to = instant("t", request, "start_time_to", "start_time_to")
    who, bad_who = participant_filter(request.participant, "participant")
    if request.state not in meeting_pb2.MeetingState.values():
        violations.append(FieldViolation("state", f"unknown state {request.state}"))
    violations += bad_project + bad_client + bad_from + bad_to + bad_who
    query = MeetingQuery(
        project_id=project.get("project_id") or "", client_id=client.get("client_id") or "",
        start_from=start_from.get("t"), start_to=start_to.get("t"), state=request.state,
        participant=who, order_by=order,
    )  # fmt: skip
    return query, violations


def upload_violations(first: meetings_pb2.UploadRecordingRequest) -> list[FieldViolation]:
    """The fields of an upload's first message, checked before any audio is stored."""
    violations = language(first.language, "language")
    if len(first.file_name) > MAX_FILE_NAME:
        violations.append(
            FieldViolation("file_name", f"must be at most {MAX_FILE_NAME} characters")
        )
    if first.HasField("meeting_offset") and first.meeting_offset.ToNanoseconds() < 0:
        violations.append(FieldViolation("meeting_offset", "must not be negative"))
    return violations


def regenerate_violations(request: meetings_pb2.RegenerateSummaryRequest) -> list[FieldViolation]:
    violations = language(request.language, "language")
    if len(request.instructions) > MAX_INSTRUCTIONS:
        violations.append(
            FieldViolation("instructions", f"must be at most {MAX_INSTRUCTIONS} characters")
        )
    return violations


def recording_ref(name: str, path: str) -> tuple[tuple[str, str] | None, list[FieldViolation]]:
    """(meeting id, recording id) of `meetings/{meeting}/recordings/{recording}`."""
    if not name:
        return None, [FieldViolation(path, "is required")]
    found = re.fullmatch(f"meetings/({ID})/recordings/({ID})", name)
    if found is None:
        return None, [FieldViolation(path, "must look like meetings/{id}/recordings/{id}")]
    return (found.group(1), found.group(2)), []
