"""Field checks of the contact requests (see `services.meetings.validation` for the shared
rules: every bad field at once, by its path, with the parsed values beside them).

Bounds: `sender_name` 1 to 200 characters, `email` a required address of at most 320,
`subject` at most 200, `body` 1 to VOKA_MEETINGS_CONTACT_MAX_BODY_CHARS (5000 by default,
19000 at most, so subject and body fit a client's notes)."""

from __future__ import annotations

from services.meetings.contact.store import ContactQuery
from services.meetings.validation import MAX_TITLE, Checked, collect, email, text
from voka.errors import FieldViolation
from voka.meetings.v1 import contact_pb2

UPDATABLE = ("read",)
OUTPUT_ONLY = ("client", "create_time", "update_time")
_READ = {contact_pb2.READ_FILTER_READ: True, contact_pb2.READ_FILTER_UNREAD: False}


def sender_values(message: contact_pb2.ContactMessage, prefix: str, max_body: int) -> Checked:
    """Column values of what a sender fills in (the honeypot aside)."""
    return collect((
        text("sender_name", message.sender_name, f"{prefix}.sender_name",
             limit=MAX_TITLE, required=True),
        sender_email(message.email, f"{prefix}.email"),
        text("subject", message.subject, f"{prefix}.subject", limit=MAX_TITLE),
        text("body", message.body, f"{prefix}.body", limit=max_body, required=True, strip=False),
    ))  # fmt: skip


def sender_email(value: str, path: str) -> Checked:
    """A required e-mail address, kept as given (trimmed)."""
    if not value.strip():
        return {}, [FieldViolation(path, "is required")]
    found, violations = email(value, path)
    return ({"email": found["contact_email"]} if found else {}), violations


def is_bot(message: contact_pb2.ContactMessage) -> bool:
    """The honeypot: a form hides `website` from people, so only a bot fills it in."""
    return bool(message.website.strip())


def contact_query(
    request: contact_pb2.ListContactMessagesRequest,
) -> tuple[ContactQuery, list[FieldViolation]]:
    wanted = request.read_filter
    if wanted not in contact_pb2.ReadFilter.values():
        return ContactQuery(), [FieldViolation("read_filter", f"unknown read filter {wanted}")]
    return ContactQuery(read=_READ.get(wanted)), []
