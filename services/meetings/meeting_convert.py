"""Meeting records → contract messages."""

from __future__ import annotations

from datetime import date, datetime

from services.meetings.chat_store import ChatRecord
from services.meetings.convert import project_name
from services.meetings.meeting_records import (
    MeetingRecord,
    ParticipantRecord,
    RecordingRecord,
    SegmentRecord,
    SummaryRecord,
)
from voka.meetings.v1 import knowledge_pb2, meeting_pb2
from voka.wellknown import duration, timestamp

M = meeting_pb2


def meeting_name(meeting_id: str) -> str:
    return f"meetings/{meeting_id}"


def participant_name(meeting_id: str, participant_id: str) -> str:
    return f"meetings/{meeting_id}/participants/{participant_id}"


def recording_name(meeting_id: str, recording_id: str) -> str:
    return f"meetings/{meeting_id}/recordings/{recording_id}"


def room_url(jitsi_base_url: str, room_name: str) -> str:
    return f"{jitsi_base_url.rstrip('/')}/{room_name}"


def _set_time(message: object, field: str, value: datetime | None) -> None:
    if value is not None:
        getattr(message, field).CopyFrom(timestamp(value))


def participant(record: ParticipantRecord) -> meeting_pb2.Participant:
    message = M.Participant(
        name=participant_name(record.meeting_id, record.id),
        display_name=record.display_name,
        email=record.email,
        user=record.user,
        role=record.role,  # type: ignore[arg-type]
        presence=record.presence,  # type: ignore[arg-type]
    )
    _set_time(message, "join_time", record.join_time)
    _set_time(message, "leave_time", record.leave_time)
    return message


def meeting(
    record: MeetingRecord, jitsi_base_url: str, ended_before: datetime
) -> meeting_pb2.Meeting:
    """`state` as read at `ended_before` (`MeetingRecord.state_at`)."""
    message = M.Meeting(
        name=meeting_name(record.id),
        project=project_name(record.project_id) if record.project_id else "",
        title=record.title,
        description=record.description,
        start_time=timestamp(record.start_time),
        end_time=timestamp(record.end_time),
        time_zone=record.time_zone,
        participants=[participant(p) for p in record.participants],
        state=record.state_at(ended_before),  # type: ignore[arg-type]
        room_name=record.room_name,
        room_url=room_url(jitsi_base_url, record.room_name),
        organizer=record.organizer,
        recording_count=len(record.recording_states),
        transcript_state=record.transcript_state,  # type: ignore[arg-type]
        summary_state=record.summary_state,  # type: ignore[arg-type]
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )
    _set_time(message, "actual_start_time", record.actual_start_time)
    _set_time(message, "actual_end_time", record.actual_end_time)
    return message


def recording(record: RecordingRecord) -> meeting_pb2.Recording:
    message = M.Recording(
        name=recording_name(record.meeting_id, record.id),
        file_name=record.file_name,
        content_type=record.content_type,
        size_bytes=record.size_bytes,
        sha256=record.sha256,
        language=record.language,
        state=record.state,  # type: ignore[arg-type]
        transcription=record.transcription,
        error=record.error,
        uploader=record.uploader,
        meeting_offset=duration(record.meeting_offset_ms / 1000),
        create_time=timestamp(record.create_time),
    )
    if record.duration_ms is not None:
        message.duration.CopyFrom(duration(record.duration_ms / 1000))
    _set_time(message, "transcribe_time", record.transcribe_time)
    return message


def transcript(
    meeting_id: str, state: int, found: list[RecordingRecord], parts: list[SegmentRecord]
) -> meeting_pb2.Transcript:
    """The transcript of the recordings transcribed so far; its time is the last one's."""
    done = [r for r in found if r.state == M.RECORDING_STATE_TRANSCRIBED]
    text = " ".join(s.text.strip() for s in parts if s.text.strip())
    languages = [r.language for r in done if r.language]
    message = M.Transcript(
        name=f"{meeting_name(meeting_id)}/transcript",
        state=state,  # type: ignore[arg-type]
        language=max(set(languages), key=languages.count) if languages else "",
        segments=[
            M.TranscriptSegment(
                recording=recording_name(meeting_id, s.recording_id),
                start_offset=duration(s.start_ms / 1000),
                end_offset=duration(s.end_ms / 1000),
                speaker=s.speaker,
                text=s.text,
            )
            for s in parts
        ],
        text=text,
        word_count=len(text.split()),
        duration=duration(sum(r.duration_ms or 0 for r in done) / 1000),
    )
    times = [r.transcribe_time for r in found if r.transcribe_time is not None]
    _set_time(message, "update_time", max(times) if times else None)
    return message


def summary(record: SummaryRecord, today: date) -> meeting_pb2.Summary:
    """`overdue` is computed against `today`, as the contract says, when read."""
    content = record.content
    meeting = meeting_name(record.meeting_id)
    message = M.Summary(
        name=f"{meeting}/summary",
        state=record.state,  # type: ignore[arg-type]
        text=content.text,
        key_points=content.key_points,
        decisions=content.decisions,
        commitments=[
            M.Commitment(
                description=c.description,
                owner=c.owner,
                due_date=c.due_date,
                overdue=c.is_overdue(today),
                meeting=meeting,
            )
            for c in content.commitments
        ],
        next_steps=content.next_steps,
        participants=content.participants,
        language=record.language,
        model=record.model,
        revision=record.revision,
        error=record.error,
    )
    _set_time(message, "generate_time", record.generate_time)
    return message


def chat_message_name(project_id: str, message_id: str) -> str:
    return f"{project_name(project_id)}/chat-messages/{message_id}"


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
    _set_time(message, "create_time", record.create_time)
    return message
