"""The resource names of the contract and what every conversion shares: clients, projects,
meetings and chat refer to each other by name (a summary's commitments name their meeting, a
search result its project and recording), so the names are made in one place."""

from __future__ import annotations

from datetime import datetime

from voka.wellknown import timestamp


def client_name(client_id: str) -> str:
    return f"clients/{client_id}"


def project_name(project_id: str) -> str:
    return f"projects/{project_id}"


def optional_project_name(project_id: str | None) -> str:
    """A meeting's or event's project: empty when it has none."""
    return project_name(project_id) if project_id else ""


def meeting_name(meeting_id: str) -> str:
    return f"meetings/{meeting_id}"


def participant_name(meeting_id: str, participant_id: str) -> str:
    return f"meetings/{meeting_id}/participants/{participant_id}"


def recording_name(meeting_id: str, recording_id: str) -> str:
    return f"meetings/{meeting_id}/recordings/{recording_id}"


def chat_message_name(project_id: str, message_id: str) -> str:
    return f"{project_name(project_id)}/chat-messages/{message_id}"


def set_time(message: object, field: str, value: datetime | None) -> None:
    """Set an optional Timestamp field; None leaves it unset."""
    if value is not None:
        getattr(message, field).CopyFrom(timestamp(value))
