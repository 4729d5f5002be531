"""What the service keeps about meetings and what hangs off them, as plain values, and the
rules that derive one state from others (who may do what, where a transcript stands)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime

from voka.meetings.v1 import meeting_pb2

M = meeting_pb2
OPEN_STATES = (M.MEETING_STATE_SCHEDULED, M.MEETING_STATE_IN_PROGRESS)  # may still lapse
RUNNING_RECORDINGS = frozenset({M.RECORDING_STATE_UPLOADED, M.RECORDING_STATE_TRANSCRIBING})


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a user (`users/{user}`) or a service, and whether they are an admin."""

    subject: str
    is_admin: bool = False


class Access(enum.IntEnum):
    """What a viewer may do with a meeting: nothing (it is NOT_FOUND to them), read it and
    join it (participants), or change it (organizer, project owner, hosts, admins)."""

    NONE = 0
    VIEW = 1
    MANAGE = 2


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

    def access(self, viewer: Viewer) -> Access:
        if viewer.is_admin or viewer.subject in (self.organizer, self.project_owner):
            return Access.MANAGE
        mine = [p for p in self.participants if p.user == viewer.subject]
        if any(p.role == M.PARTICIPANT_ROLE_HOST for p in mine):
            return Access.MANAGE
        return Access.VIEW if mine else Access.NONE

    def state_at(self, ended_before: datetime) -> int:
        """The state as read: still SCHEDULED or IN_PROGRESS, but its scheduled end and its
        last join both before `ended_before` (now less the grace), it is ENDED — people who
        close the page without leaving would keep it open for ever. Worked out when read,
        never stored: the row keeps what happened, and a later join or a new end time brings
        the meeting back."""
        joins = [p.join_time for p in self.participants if p.join_time is not None]
        if self.state in OPEN_STATES and max([self.end_time, *joins]) < ended_before:
            return M.MEETING_STATE_ENDED
        return self.state

    @property
    def transcript_state(self) -> int:
        return transcript_state(self.recording_states)


def transcript_state(recording_states: tuple[int, ...]) -> int:
    """RUNNING while any recording is on its way; then COMPLETED if any was transcribed,
    FAILED if all failed; UNSPECIFIED without recordings."""
    if not recording_states:
        return M.PROCESSING_STATE_UNSPECIFIED
    if RUNNING_RECORDINGS & set(recording_states):
        return M.PROCESSING_STATE_RUNNING
    if M.RECORDING_STATE_TRANSCRIBED in recording_states:
        return M.PROCESSING_STATE_COMPLETED
    return M.PROCESSING_STATE_FAILED


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
