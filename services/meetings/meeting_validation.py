"""Field-level checks of the meeting RPCs, in the style of `validation`: every bad field named
by its path in the request, all at once, with the parsed values returned beside them."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import timestamp_pb2

from services.meetings import validation
from services.meetings.meeting_store import MEETING_ORDERS, MeetingQuery
from services.meetings.store import fold
from services.meetings.validation import Checked, collect, resource_id, text
from voka.errors import FieldViolation
from voka.meetings.v1 import meeting_pb2, meetings_pb2

M = meeting_pb2
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
_LANGUAGE = r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*"
_ID = r"[A-Za-z0-9_-]{1,64}"


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


def instant(column: str, message: Any, field: str, path: str, *, required: bool = False) -> Checked:
    """A Timestamp field; unset is None (or a violation when required)."""
    if not message.HasField(field):
        if required:
            return {}, [FieldViolation(path, "is required")]
        return {column: None}, []
    value: timestamp_pb2.Timestamp = getattr(message, field)
    try:
        return {column: value.ToDatetime(tzinfo=UTC)}, []
    except (ValueError, OverflowError):
        return {}, [FieldViolation(path, "is not a valid time")]


def project_ref(value: str, path: str) -> Checked:
    """A meeting's project: empty for none."""
    if not value:
        return {"project_id": None}, []
    project_id, violations = resource_id(value, "projects", path)
    return ({"project_id": project_id} if project_id else {}), violations


def meeting_values(meeting: meeting_pb2.Meeting, paths: Iterable[str], prefix: str) -> Checked:
    """Column values of the meeting's fields in `paths` (all updatable ones at create)."""
    m = meeting
    checks = {
        "title": lambda p: text("title", m.title, p, limit=validation.MAX_TITLE, required=True),
        "description": lambda p: text(
            "description", m.description, p, limit=validation.MAX_LONG_TEXT, strip=False
        ),
        "project": lambda p: project_ref(m.project, p),
        "start_time": lambda p: instant("start_time", m, "start_time", p, required=True),
        "end_time": lambda p: instant("end_time", m, "end_time", p),
        "time_zone": lambda p: time_zone(m.time_zone, p),
    }
    return collect(checks[field](f"{prefix}.{field}") for field in paths)


def time_order(start: datetime, end: datetime, path: str) -> list[FieldViolation]:
    return [] if end > start else [FieldViolation(path, "must be after start_time")]


def user_ref(value: str, path: str) -> tuple[str, list[FieldViolation]]:
    if not value:
        return "", []
    user_id, violations = resource_id(value, "users", path)
    return (f"users/{user_id}" if user_id else ""), violations


def participant(given: meeting_pb2.Participant, path: str) -> Checked:
    """One person to invite: a name, and an e-mail or account to tell them apart."""
    values, violations = collect([
        text("display_name", given.display_name, f"{path}.display_name",
             limit=MAX_DISPLAY_NAME, required=True),
        validation.email(given.email, f"{path}.email"),
    ])  # fmt: skip
    user, bad_user = user_ref(given.user, f"{path}.user")
    if given.role not in M.ParticipantRole.values():
        violations.append(FieldViolation(f"{path}.role", f"unknown role {given.role}"))
    return {
        "display_name": values.get("display_name", ""),
        "email": values.get("contact_email", ""),
        "user": user,
        "role": given.role or M.PARTICIPANT_ROLE_ATTENDEE,
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
    values, violations = validation.email(value, path)
    return fold(values.get("contact_email", "")), violations


def meeting_query(
    request: meetings_pb2.ListMeetingsRequest,
) -> tuple[MeetingQuery, list[FieldViolation]]:
    order, violations = validation.order_by(request.order_by, MEETING_ORDERS)
    project, bad_project = project_ref(request.project, "project")
    client, bad_client = validation.client_ref(request.client, "client")
    start_from, bad_from = instant("t", request, "start_time_from", "start_time_from")
    start_to, bad_to = instant("t", request, "start_time_to", "start_time_to")
    who, bad_who = participant_filter(request.participant, "participant")
    if request.state not in M.MeetingState.values():
        violations.append(FieldViolation("state", f"unknown state {request.state}"))
    violations += bad_project + bad_client + bad_from + bad_to + bad_who
    query = MeetingQuery(
        project_id=project.get("project_id") or "", client_id=client.get("client_id") or "",
        start_from=start_from.get("t"), start_to=start_to.get("t"), state=request.state,
        participant=who, order_by=order,
    )  # fmt: skip
    return query, violations


def language(value: str, path: str) -> list[FieldViolation]:
    if value and not re.fullmatch(_LANGUAGE, value):
        return [FieldViolation(path, "must be a BCP 47 language tag like es or en-US")]
    return []


def recording_ref(name: str, path: str) -> tuple[tuple[str, str] | None, list[FieldViolation]]:
    """(meeting id, recording id) of `meetings/{meeting}/recordings/{recording}`."""
    if not name:
        return None, [FieldViolation(path, "is required")]
    found = re.fullmatch(f"meetings/({_ID})/recordings/({_ID})", name)
    if found is None:
        return None, [FieldViolation(path, "must look like meetings/{id}/recordings/{id}")]
    return (found.group(1), found.group(2)), []
