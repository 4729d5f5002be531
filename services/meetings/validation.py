"""The field checks every request of the service shares. Every bad field is reported at once,
named by its path in the request (`project.progress_percent`, `update_mask.paths`), so a form
can mark them all; checks return the parsed values too, so handlers never re-read raw message
fields. Each sub-domain's own checks (`clients.validation`, ...) are built from these."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC
from typing import Any

from google.protobuf import field_mask_pb2, timestamp_pb2

from services.meetings.schema import fold
from voka.errors import FieldViolation
from voka.pagination import Order

Checked = tuple[dict[str, Any], list[FieldViolation]]

MAX_TITLE = 200
MAX_LONG_TEXT = 20_000
MAX_EMAIL = 320
MAX_SEARCH = 500
ID = r"[A-Za-z0-9_-]{1,64}"

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def collect(results: Iterable[Checked]) -> Checked:
    """Merge the values and violations of several checks."""
    values: dict[str, Any] = {}
    violations: list[FieldViolation] = []
    for found, bad in results:
        values |= found
        violations += bad
    return values, violations


def resource_id(
    name: str, collection: str, path: str, *, suffix: str = ""
) -> tuple[str | None, list[FieldViolation]]:
    """The id in `{collection}/{id}{suffix}`; a malformed name is INVALID_ARGUMENT, a
    well-formed one that names nothing of the caller's is NOT_FOUND (the handler's call)."""
    if not name:
        return None, [FieldViolation(path, "is required")]
    match = re.fullmatch(f"{collection}/({ID}){re.escape(suffix)}", name)
    if match is None:
        return None, [FieldViolation(path, f"must look like {collection}/{{id}}{suffix}")]
    return match.group(1), []


def reference(value: str, collection: str, column: str, path: str) -> Checked:
    """An optional reference to another resource (a project's client, a meeting's project, a
    filter): `column` is its id, None when the field is empty."""
    if not value:
        return {column: None}, []
    found, violations = resource_id(value, collection, path)
    return ({column: found} if found else {}), violations


def text(
    column: str, value: str, path: str, *, limit: int, required: bool = False, strip: bool = True
) -> Checked:
    """A text field, trimmed (unless `strip` is off, for Markdown), within `limit` chars."""
    value = value.strip() if strip else value
    if required and not value:
        return {}, [FieldViolation(path, "is required")]
    if len(value) > limit:
        return {}, [FieldViolation(path, f"must be at most {limit} characters")]
    return {column: value}, []


def email(value: str, path: str) -> Checked:
    value = value.strip()
    if value and (len(value) > MAX_EMAIL or not _EMAIL.fullmatch(value)):
        return {}, [FieldViolation(path, "must be an e-mail address like ana@example.com")]
    return {"contact_email": value}, []


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


def language(value: str, path: str) -> list[FieldViolation]:
    if value and not _LANGUAGE.fullmatch(value):
        return [FieldViolation(path, "must be a BCP 47 language tag like es or en-US")]
    return []


def update_paths(
    mask: field_mask_pb2.FieldMask,
    updatable: tuple[str, ...],
    output_only: tuple[str, ...],
    path: str = "update_mask.paths",
) -> tuple[tuple[str, ...], list[FieldViolation]]:
    """The fields an update changes. Empty or `*`: every updatable field (the contract's
    "every field that is not output-only", i.e. a full replacement)."""
    requested = list(dict.fromkeys(mask.paths))
    if requested in ([], ["*"]):
        return updatable, []
    violations = [
        FieldViolation(path, _why_not_updatable(field, output_only))
        for field in requested
        if field not in updatable
    ]
    return tuple(field for field in requested if field in updatable), violations


def _why_not_updatable(field: str, output_only: tuple[str, ...]) -> str:
    if field == "*":
        return "'*' must be the only path"
    if field == "name":
        return "'name' identifies the resource and cannot change"
    if field in output_only:
        return f"{field!r} is output only"
    return f"{field!r} is not a field that can be updated"


def order_by(
    value: str, orders: dict[str, Order[Any]], path: str = "order_by"
) -> tuple[str, list[FieldViolation]]:
    """The order asked for, normalised ("Title ASC" is "title"); empty: the first listed."""
    wanted = " ".join(value.lower().split()).removesuffix(" asc")
    if not wanted:
        return next(iter(orders)), []
    if wanted not in orders:
        return "", [FieldViolation(path, "must be one of: " + ", ".join(orders))]
    return wanted, []


def search_words(value: str, path: str = "search") -> tuple[tuple[str, ...], list[FieldViolation]]:
    if len(value) > MAX_SEARCH:
        return (), [FieldViolation(path, f"must be at most {MAX_SEARCH} characters")]
    return tuple(dict.fromkeys(fold(word) for word in value.split())), []
