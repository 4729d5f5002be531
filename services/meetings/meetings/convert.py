"""Meeting, participant, recording, transcript and summary records → contract messages.
States derived when read (a meeting ended by time, a commitment overdue) are worked out here
against the time the caller passes, so one answer reads one moment."""

from __future__ import annotations

from datetime import date, datetime

from services.meetings.convert import (
    meeting_name,
    optional_project_name,
    participant_name,
    recording_name,
    set_time,
)
from services.meetings.meetings.records import (
    Commitment,
    MeetingRecord,
    ParticipantRecord,
    RecordingRecord,
    SegmentRecord,
    SummaryRecord,
)
from voka.meetings.v1 import meeting_pb2
from voka.wellknown import duration, timestamp


def room_url(jitsi_base_url: str, room_name: str) -> str:
    return f"{jitsi_base_url.rstrip('/')}/{room_name}"


def participant(record: ParticipantRecord) -> meeting_pb2.Participant:
    message = meeting_pb2.Participant(
        name=participant_name(record.meeting_id, record.id),
        display_name=record.display_name,
        email=record.email,
        user=record.user,
        role=record.role,  # type: ignore[arg-type]
        presence=record.presence,  # type: ignore[arg-type]
    )
    set_time(message, "join_time", record.join_time)
    set_time(message, "leave_time", record.leave_time)
    return message


def meeting(
    record: MeetingRecord, jitsi_base_url: str, ended_before: datetime
) -> meeting_pb2.Meeting:
    """`state` as read at `ended_before` (`MeetingRecord.state_at`)."""
    message = meeting_pb2.Meeting(
        name=meeting_name(record.id),
        project=optional_project_name(record.project_id),
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
    set_time(message, "actual_start_time", record.actual_start_time)
    set_time(message, "actual_end_time", record.actual_end_time)
    return message


def recording(record: RecordingRecord) -> meeting_pb2.Recording:
    message = meeting_pb2.Recording(
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
    set_time(message, "transcribe_time", record.transcribe_time)
    return message


def transcript(
    meeting_id: str, state: int, found: list[RecordingRecord], parts: list[SegmentRecord]
) -> meeting_pb2.Transcript:
    """The transcript of the recordings transcribed so far; its time is the last one's."""
    done = [r for r in found if r.state == meeting_pb2.RECORDING_STATE_TRANSCRIBED]
    text = " ".join(s.text.strip() for s in parts if s.text.strip())
    languages = [r.language for r in done if r.language]
    message = meeting_pb2.Transcript(
        name=f"{meeting_name(meeting_id)}/transcript",
        state=state,  # type: ignore[arg-type]
        language=max(set(languages), key=languages.count) if languages else "",
        segments=[
            meeting_pb2.TranscriptSegment(
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
    set_time(message, "update_time", max(times) if times else None)
    return message


def commitment(found: Commitment, meeting_id: str, today: date) -> meeting_pb2.Commitment:
    """`overdue` is computed against `today`, as the contract says, when read."""
    return meeting_pb2.Commitment(
        description=found.description,
        owner=found.owner,
        due_date=found.due_date,
        overdue=found.is_overdue(today),
        meeting=meeting_name(meeting_id),
    )


def summary(record: SummaryRecord, today: date) -> meeting_pb2.Summary:
    content = record.content
    message = meeting_pb2.Summary(
        name=f"{meeting_name(record.meeting_id)}/summary",
        state=record.state,  # type: ignore[arg-type]
        text=content.text,
        key_points=content.key_points,
        decisions=content.decisions,
        commitments=[commitment(c, record.meeting_id, today) for c in content.commitments],
        next_steps=content.next_steps,
        participants=content.participants,
        language=record.language,
        model=record.model,
        revision=record.revision,
        error=record.error,
    )
    set_time(message, "generate_time", record.generate_time)
    return message
