"""What the service keeps about meetings and what hangs off them, as plain values, and the
rules that derive one state from others (when a meeting reads as ended, where a transcript
stands, when a commitment is overdue)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from voka.meetings.v1 import meeting_pb2

OPEN_STATES = (meeting_pb2.MEETING_STATE_SCHEDULED, meeting_pb2.MEETING_STATE_IN_PROGRESS)
RUNNING_RECORDINGS = frozenset(
    {meeting_pb2.RECORDING_STATE_UPLOADED, meeting_pb2.RECORDING_STATE_TRANSCRIBING}
)


@dataclass(frozen=True)
class ParticipantRecord:
    id: str
    meeting_id: str
    position: int
    display_name: str
    email: str
    user: str
    role: int
    presence: int
    join_time: datetime | None = None
    leave_time: datetime | None = None


@dataclass(frozen=True)
class MeetingRecord:
    """One meeting row with its participants; `project_owner` and the recording and summary
    states are read with it (they live in other rows)."""

    id: str
    organizer: str
    project_id: str | None
    title: str
    description: str
    start_time: datetime
    end_time: datetime
    time_zone: str
    state: int
    room_name: str
    actual_start_time: datetime | None
    actual_end_time: datetime | None
    create_time: datetime
    update_time: datetime
    participants: tuple[ParticipantRecord, ...] = ()
    project_owner: str | None = None
    recording_states: tuple[int, ...] = ()
    summary_state: int = 0

    def state_at(self, ended_before: datetime) -> int:
        """The state as read: still SCHEDULED or IN_PROGRESS, but its scheduled end and its
        last join both before `ended_before` (now less the grace), it is ENDED — people who
        close the page without leaving would keep it open for ever. Worked out when read,
        never stored: the row keeps what happened, and a later join or a new end time brings
        the meeting back."""
        joins = [p.join_time for p in self.participants if p.join_time is not None]
        if self.state in OPEN_STATES and max([self.end_time, *joins]) < ended_before:
            return meeting_pb2.MEETING_STATE_ENDED
        return self.state

    @property
    def transcript_state(self) -> int:
        return transcript_state(self.recording_states)


def transcript_state(recording_states: tuple[int, ...]) -> int:
    """RUNNING while any recording is on its way; then COMPLETED if any was transcribed,
    FAILED if all failed; UNSPECIFIED without recordings."""
    if not recording_states:
        return meeting_pb2.PROCESSING_STATE_UNSPECIFIED
    if RUNNING_RECORDINGS & set(recording_states):
        return meeting_pb2.PROCESSING_STATE_RUNNING
    if meeting_pb2.RECORDING_STATE_TRANSCRIBED in recording_states:
        return meeting_pb2.PROCESSING_STATE_COMPLETED
    return meeting_pb2.PROCESSING_STATE_FAILED


@dataclass(frozen=True)
class RecordingRecord:
    id: str
    meeting_id: str
    uploader: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    path: str
    duration_ms: int | None
    language: str
    state: int
    transcription: str
    error: str
    meeting_offset_ms: int
    summarize: bool
    create_time: datetime
    transcribe_time: datetime | None = None


@dataclass(frozen=True)
class SegmentRecord:
    recording_id: str
    position: int
    start_ms: int
    end_ms: int
    speaker: str
    text: str


@dataclass(frozen=True)
class Commitment:
    description: str
    owner: str = ""
    due_date: str = ""  # YYYY-MM-DD as the model wrote it; empty: none

    def is_overdue(self, today: date) -> bool:
        """Due before `today`; computed when read, as the contract says (ISO dates compare
        as strings)."""
        return bool(self.due_date) and self.due_date < today.isoformat()


@dataclass(frozen=True)
class SummaryContent:
    """What a model's answer was parsed into."""

    text: str = ""
    key_points: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    commitments: tuple[Commitment, ...] = ()
    next_steps: tuple[str, ...] = ()
    participants: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        """The summary's text, one line per item: what search matches and chat quotes."""
        said = [f"{c.owner}: {c.description} ({c.due_date or 'no date'})" for c in self.commitments]
        return [self.text, *self.key_points, *self.decisions, *said, *self.next_steps]


@dataclass(frozen=True)
class SummaryRecord:
    meeting_id: str
    state: int
    revision: int
    content: SummaryContent
    language: str
    model: str
    error: str
    raw_output: str
    generate_time: datetime | None
    update_time: datetime


@dataclass(frozen=True)
class MeetingFigures:
    """Figures over the meetings of a set of projects (one project, or a client's), as the
    database computed them; commitments are counted from the summaries' JSON."""

    meeting_count: int = 0
    upcoming_meeting_count: int = 0
    last_meeting_time: datetime | None = None
    next_meeting_time: datetime | None = None
    recording_count: int = 0
    recorded_ms: int = 0
    summarized_meeting_count: int = 0
    commitment_count: int = 0
    overdue_commitment_count: int = 0
