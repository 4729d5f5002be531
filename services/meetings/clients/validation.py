"""Field checks of the client and project requests (see `services.meetings.validation` for the
shared rules: every bad field at once, by its path, with the parsed values beside them)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date

from services.meetings.clients.store import (
    CLIENT_ORDERS,
    PROJECT_ORDERS,
    ClientQuery,
    ProjectQuery,
)
from services.meetings.schema import fold
from services.meetings.validation import (
    MAX_LONG_TEXT,
    MAX_TITLE,
    Checked,
    collect,
    email,
    order_by,
    reference,
    search_words,
    text,
)
from voka.errors import FieldViolation
from voka.meetings.v1 import client_pb2, meetings_pb2, project_pb2

MAX_PHONE = 64
MAX_TAG = 40
MAX_TAGS = 20
MAX_HOURS = 9_999_999

CLIENT_FIELDS = ("display_name", "contact_email", "company", "phone", "notes")
CLIENT_OUTPUT_ONLY = ("owner", "project_count", "create_time", "update_time")
PROJECT_FIELDS = (
    "client",
    "title",
    "description",
    "status",
    "progress_percent",
    "budget",
    "estimated_hours",
    "spent_hours",
    "start_date",
    "due_date",
    "tags",
)
PROJECT_OUTPUT_ONLY = ("complete_time", "owner", "meeting_count", "create_time", "update_time")

_CURRENCY = re.compile(r"[A-Z]{3}")
_HOURS = re.compile(r"(\d{1,7})(?:\.(\d{1,2}))?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


CLIENT_CHECKS: dict[str, Callable[[client_pb2.Client, str], Checked]] = {
    "display_name": lambda c, p: text(
        "display_name", c.display_name, p, limit=MAX_TITLE, required=True
    ),
    "contact_email": lambda c, p: email(c.contact_email, p),
    "company": lambda c, p: text("company", c.company, p, limit=MAX_TITLE),
    "phone": lambda c, p: text("phone", c.phone, p, limit=MAX_PHONE),
    "notes": lambda c, p: text("notes", c.notes, p, limit=MAX_LONG_TEXT, strip=False),
}


def client_values(client: client_pb2.Client, paths: Iterable[str], prefix: str) -> Checked:
    """Column values of the client's fields in `paths` (all updatable ones at create)."""
    return collect(CLIENT_CHECKS[field](client, f"{prefix}.{field}") for field in paths)


def client_ref(value: str, path: str) -> Checked:
    """A project's client: empty for an internal project."""
    return reference(value, "clients", "client_id", path)


def status(value: int, path: str, *, creating: bool) -> Checked:
    """Unset is PLANNING at create; an update must say which status it sets."""
    if value not in project_pb2.ProjectStatus.values():
        return {}, [FieldViolation(path, f"unknown status {value}")]
    if not value and not creating:
        return {}, [FieldViolation(path, "must be set (PROJECT_STATUS_UNSPECIFIED is for create)")]
    return {"status": value}, []


def progress(value: int, path: str) -> Checked:
    if not 0 <= value <= 100:
        return {}, [FieldViolation(path, "must be between 0 and 100")]
    return {"progress_percent": value}, []


def budget(project: project_pb2.Project, path: str) -> Checked:
    """Money in minor units; no budget is stored as NULLs, not as a zero amount."""
    if not project.HasField("budget"):
        return {"budget_currency": None, "budget_minor": None}, []
    money = project.budget
    violations = []
    if not _CURRENCY.fullmatch(money.currency_code):
        violations.append(FieldViolation(f"{path}.currency_code", "must be like EUR (ISO 4217)"))
    if money.amount_minor < 0:
        violations.append(FieldViolation(f"{path}.amount_minor", "must not be negative"))
    if violations:
        return {}, violations
    return {"budget_currency": money.currency_code, "budget_minor": money.amount_minor}, []


def hours(column: str, value: str, path: str) -> Checked:
    """A decimal string with at most 2 decimals, kept as hundredths of an hour."""
    value = value.strip()
    if not value:
        return {column: None}, []
    match = _HOURS.fullmatch(value)
    if match is None:
        return {}, [
            FieldViolation(path, f"must be a number of hours, 0 to {MAX_HOURS}, 2 decimals")
        ]
    whole, fraction = match.group(1), (match.group(2) or "").ljust(2, "0")
    return {column: int(whole) * 100 + int(fraction)}, []


def calendar_date(column: str, value: str, path: str) -> Checked:
    value = value.strip()
    if not value:
        return {column: None}, []
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return {column: date.fromisoformat(value)}, []
    except ValueError:
        return {}, [FieldViolation(path, "must be a calendar date like 2025-03-01")]


def tags(values: Iterable[str], path: str) -> Checked:
    """Tags are stored lower case and once each, in the order given."""
    cleaned = list(dict.fromkeys(tag.strip().lower() for tag in values))
    violations = [
        FieldViolation(f"{path}[{i}]", f"must be 1 to {MAX_TAG} characters")
        for i, tag in enumerate(cleaned)
        if not 1 <= len(tag) <= MAX_TAG
    ]
    if len(cleaned) > MAX_TAGS:
        violations.append(FieldViolation(path, f"at most {MAX_TAGS} tags"))
    return ({}, violations) if violations else ({"tags": tuple(cleaned)}, [])


def date_order(start: date | None, due: date | None, path: str) -> list[FieldViolation]:
    if start is not None and due is not None and due < start:
        return [FieldViolation(path, "must not be before start_date")]
    return []


def project_values(
    project: project_pb2.Project, paths: Iterable[str], prefix: str, *, creating: bool
) -> Checked:
    """Column values of the project's fields in `paths` (all updatable ones at create)."""
    p = project
    checks: dict[str, Callable[[str], Checked]] = {
        "client": lambda path: client_ref(p.client, path),
        "title": lambda path: text("title", p.title, path, limit=MAX_TITLE, required=True),
        "description": lambda path: text(
            "description", p.description, path, limit=MAX_LONG_TEXT, strip=False
        ),
        "status": lambda path: status(p.status, path, creating=creating),
        "progress_percent": lambda path: progress(p.progress_percent, path),
        "budget": lambda path: budget(p, path),
        "estimated_hours": lambda path: hours("estimated_centihours", p.estimated_hours, path),
        "spent_hours": lambda path: hours("spent_centihours", p.spent_hours, path),
        "start_date": lambda path: calendar_date("start_date", p.start_date, path),
        "due_date": lambda path: calendar_date("due_date", p.due_date, path),
        "tags": lambda path: tags(p.tags, path),
    }
    return collect(checks[field](f"{prefix}.{field}") for field in paths)


def client_query(
    request: meetings_pb2.ListClientsRequest,
) -> tuple[ClientQuery, list[FieldViolation]]:
    words, violations = search_words(request.search)
    order, bad_order = order_by(request.order_by, CLIENT_ORDERS)
    company, bad_company = text("company", request.company, "company", limit=MAX_TITLE)
    violations += bad_order + bad_company
    query = ClientQuery(words, fold(company.get("company", "")), order)
    return query, violations


def project_query(
    request: meetings_pb2.ListProjectsRequest,
) -> tuple[ProjectQuery, list[FieldViolation]]:
    words, violations = search_words(request.search)
    order, bad_order = order_by(request.order_by, PROJECT_ORDERS)
    client = client_ref(request.client, "client")
    tag = text("tag", request.tag.lower(), "tag", limit=MAX_TAG)
    _, bad_state = status(request.status, "status", creating=True)
    violations += bad_order + client[1] + tag[1] + bad_state
    query = ProjectQuery(
        status=request.status if not bad_state else 0,
        client_id=client[0].get("client_id") or "",
        words=words,
        tag=tag[0].get("tag", ""),
        order_by=order,
    )
    return query, violations
