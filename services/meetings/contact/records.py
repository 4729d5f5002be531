"""What the service keeps about a contact message, as a plain value. Contact messages belong to
no user: only admins read them (the contract's access rule), so there is no owner."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ContactMessageRecord:
    """One contact message row; `client_id` is the client made from it (None: not yet)."""

    id: str
    sender_name: str
    email: str
    subject: str
    body: str
    read: bool
    client_id: str | None
    create_time: datetime
    update_time: datetime


def new_message(message_id: str, values: dict[str, Any], now: datetime) -> ContactMessageRecord:
    """A message from validated sender fields, unread and unconverted; times are the server's."""
    return ContactMessageRecord(
        id=message_id, read=False, client_id=None, create_time=now, update_time=now, **values
    )


def marked(record: ContactMessageRecord, read: bool, now: datetime) -> ContactMessageRecord:
    """The message marked read or unread; marking it as it already is changes nothing."""
    if record.read == read:
        return record
    return dataclasses.replace(record, read=read, update_time=now)


def converted(record: ContactMessageRecord, client_id: str, now: datetime) -> ContactMessageRecord:
    """The message linked to the client made from it, and read (someone acted on it)."""
    return dataclasses.replace(record, client_id=client_id, read=True, update_time=now)
