"""What the service keeps of a project's chat, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from voka.meetings.v1 import knowledge_pb2


@dataclass(frozen=True)
class ChatRecord:
    """One question (`author` set) or answer (`reply_to`, `model` and citations set)."""

    id: str
    project_id: str
    role: int
    content: str
    create_time: datetime
    author: str = ""
    reply_to: str = ""
    model: str = ""
    citations: tuple[knowledge_pb2.Citation, ...] = ()
