"""Chat records and ranked passages → contract messages (chat messages, the sources they cite,
search results)."""

from __future__ import annotations

from collections.abc import Sequence

from services.meetings.chat import passages
from services.meetings.chat.passages import Passage, Ranked
from services.meetings.chat.records import ChatRecord
from services.meetings.convert import (
    chat_message_name,
    client_name,
    meeting_name,
    optional_project_name,
    recording_name,
    set_time,
)
from voka.meetings.v1 import knowledge_pb2
from voka.wellknown import duration


def chat_message(record: ChatRecord, *, stored: bool = True) -> knowledge_pb2.ChatMessage:
    """`stored` off (an ephemeral answer): no name, as there is nothing to link to."""
    message = knowledge_pb2.ChatMessage(
        name=chat_message_name(record.project_id, record.id) if stored else "",
        role=record.role,  # type: ignore[arg-type]
        content=record.content,
        citations=record.citations,
        author=record.author,
        reply_to=chat_message_name(record.project_id, record.reply_to)
        if record.reply_to and stored
        else "",
        model=record.model,
    )
    set_time(message, "create_time", record.create_time)
    return message


def source_ref(passage: Passage) -> knowledge_pb2.SourceRef:
    p = passage
    ref = knowledge_pb2.SourceRef(
        kind=p.kind,  # type: ignore[arg-type]
        project=optional_project_name(p.project_id),
        meeting=meeting_name(p.meeting_id) if p.meeting_id else "",
        recording=recording_name(p.meeting_id, p.recording_id) if p.recording_id else "",
        chat_message=chat_message_name(p.project_id or "", p.chat_id) if p.chat_id else "",
        client=client_name(p.client_id) if p.client_id else "",
        title=p.title,
    )
    if p.start_ms is not None and p.end_ms is not None:
        ref.start_offset.CopyFrom(duration(p.start_ms / 1000))
        ref.end_offset.CopyFrom(duration(p.end_ms / 1000))
    set_time(ref, "time", p.time)
    return ref


def search_result(ranked: Ranked, words: Sequence[str]) -> knowledge_pb2.SearchResult:
    return knowledge_pb2.SearchResult(
        source=source_ref(ranked.passage),
        score=ranked.score,
        snippet=passages.snippet(ranked.passage.text, words),
    )
