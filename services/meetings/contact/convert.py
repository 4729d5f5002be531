"""Contact message records → contract messages, the event that announces one, and the client
a message becomes."""

from __future__ import annotations

from typing import Any

from services.meetings.contact.records import ContactMessageRecord
from services.meetings.convert import client_name
from voka.meetings.v1 import contact_pb2, events_pb2
from voka.wellknown import timestamp


def contact_message_name(message_id: str) -> str:
    return f"contact-messages/{message_id}"


def contact_message(record: ContactMessageRecord) -> contact_pb2.ContactMessage:
    return contact_pb2.ContactMessage(
        name=contact_message_name(record.id),
        sender_name=record.sender_name,
        email=record.email,
        subject=record.subject,
        body=record.body,
        read=record.read,
        client=client_name(record.client_id) if record.client_id else "",
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )


def received_event(record: ContactMessageRecord) -> events_pb2.ContactMessageReceivedEvent:
    return events_pb2.ContactMessageReceivedEvent(
        contact_message=contact_message_name(record.id),
        sender_name=record.sender_name,
        email=record.email,
        subject=record.subject,
        create_time=timestamp(record.create_time),
    )


def client_values(record: ContactMessageRecord) -> dict[str, Any]:
    """The client fields a message gives: the sender as name and e-mail, the subject and body
    as notes (they fit: VOKA_MEETINGS_CONTACT_MAX_BODY_CHARS is bounded for it)."""
    notes = f"{record.subject}\n\n{record.body}" if record.subject else record.body
    return {
        "display_name": record.sender_name,
        "contact_email": record.email,
        "company": "",
        "phone": "",
        "notes": notes,
    }
