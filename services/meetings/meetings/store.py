"""The meetings tables (meetings, participants, recordings, transcript segments, summaries)
and every query on them.

Unlike clients and projects, a meeting is not one owner's row: its organizer, its project's
owner and its participants all see it. Lists filter by that visibility in SQL (`visible_to`);
single reads load the meeting with what decides access (project owner, participants), and the
handler asks `access`, so a meeting the caller may not see is NOT_FOUND.

Figures (`MeetingStore.figures`) are aggregates the database computes, in queries that read
the same on SQLite and PostgreSQL. Commitments are the exception: they are JSON lists inside
summaries (no portable SQL reads them), so only their column is fetched and they are counted
here, with the same overdue rule as summaries and insights. A meeting is *upcoming* while it
is SCHEDULED and its start is ahead; every other meeting has been *held* (or was due and never
joined), so the two counts always add up to the total.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, astuple, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings.chat import changes
from services.meetings.clients.store import ProjectIds, projects
from services.meetings.meetings.records import (
    OPEN_STATES,
    Commitment,
    MeetingFigures,
    MeetingRecord,
    ParticipantRecord,
    RecordingRecord,
    SegmentRecord,
    SummaryContent,
    SummaryRecord,
)
from services.meetings.schema import fold, metadata, search_text
from voka.meetings.v1 import meeting_pb2
from voka.pagination import Listing, Order, Page, fingerprint
from voka.wellknown import utc

# Mirrors migrations/versions/0002_meetings.py and 0003_chat_search.py (the folded search
# columns); the migrations are what create them.
meetings = sa.Table(
    "meetings_meetings",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("organizer", sa.String(200), nullable=False),
    sa.Column("project_id", sa.String(32), sa.ForeignKey("meetings_projects.id"), nullable=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("state", sa.Integer(), nullable=False),
    sa.Column("room_name", sa.String(64), nullable=False),
    sa.Column("actual_start_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("actual_end_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("search_text", sa.Text(), nullable=False),
)

participants = sa.Table(
    "meetings_participants",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("meeting_id", sa.String(32), sa.ForeignKey("meetings_meetings.id"), nullable=False),
    sa.Column("position", sa.Integer(), nullable=False),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("email_key", sa.String(320), nullable=False),
    sa.Column("user_subject", sa.String(200), nullable=False),
    sa.Column("role", sa.Integer(), nullable=False),
    sa.Column("presence", sa.Integer(), nullable=False),
    sa.Column("join_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("leave_time", sa.DateTime(timezone=True), nullable=True),
)

recordings = sa.Table(
    "meetings_recordings",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("meeting_id", sa.String(32), sa.ForeignKey("meetings_meetings.id"), nullable=False),
    sa.Column("uploader", sa.String(200), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(32), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("duration_ms", sa.BigInteger(), nullable=True),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("state", sa.Integer(), nullable=False),
    sa.Column("transcription", sa.String(200), nullable=False),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("meeting_offset_ms", sa.BigInteger(), nullable=False),
    sa.Column("summarize", sa.Boolean(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("transcribe_time", sa.DateTime(timezone=True), nullable=True),
)

segments = sa.Table(
    "meetings_transcript_segments",
    metadata,
    sa.Column(
        "recording_id",
        sa.String(32),
        sa.ForeignKey("meetings_recordings.id"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("meeting_id", sa.String(32), nullable=False),
    sa.Column("start_ms", sa.BigInteger(), nullable=False),
    sa.Column("end_ms", sa.BigInteger(), nullable=False),
    sa.Column("speaker", sa.String(100), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("text_key", sa.Text(), nullable=False),
)

summaries = sa.Table(
    "meetings_summaries",
    metadata,
    sa.Column("meeting_id", sa.String(32), sa.ForeignKey("meetings_meetings.id"), primary_key=True),
    sa.Column("state", sa.Integer(), nullable=False),
    sa.Column("revision", sa.Integer(), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("key_points", sa.Text(), nullable=False),
    sa.Column("decisions", sa.Text(), nullable=False),
    sa.Column("commitments", sa.Text(), nullable=False),
    sa.Column("next_steps", sa.Text(), nullable=False),
    sa.Column("participants", sa.Text(), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("error", sa.Text(), nullable=False),
    sa.Column("raw_output", sa.Text(), nullable=False),
    sa.Column("generate_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("search_text", sa.Text(), nullable=False),
)

HAS_CONTENT = summaries.c.generate_time.is_not(None)  # a summary written at least once

MEETING_ORDERS: dict[str, Order[MeetingRecord]] = {
    "start_time": Order(
        meetings.c.start_time, meetings.c.id, False, "datetime", lambda r: r.start_time
    ),
    "start_time desc": Order(
        meetings.c.start_time, meetings.c.id, True, "datetime", lambda r: r.start_time
    ),
}


def visible_to(subject: str | None) -> list[sa.ColumnElement[bool]]:
    """The meetings `subject` may see, as query conditions: those they organize, those of the
    projects they own and those they are invited to; None (an admin, `voka.tenancy`) sees
    every meeting."""
    if subject is None:
        return []
    owned_projects = sa.select(projects.c.id).where(projects.c.owner == subject)
    invited = sa.select(participants.c.id).where(
        participants.c.meeting_id == meetings.c.id,
        participants.c.user_subject == subject,
    )
    return [
        sa.or_(
            meetings.c.organizer == subject,
            meetings.c.project_id.in_(owned_projects),
            invited.exists(),
        )
    ]


def state_at(ended_before: datetime) -> sa.ColumnElement[int]:
    """`MeetingRecord.state_at` in SQL, for the state filter."""
    last_join = (
        sa.select(sa.func.max(participants.c.join_time))
        .where(participants.c.meeting_id == meetings.c.id)
        .scalar_subquery()
    )
    lapsed = sa.and_(
        meetings.c.state.in_(OPEN_STATES),
        meetings.c.end_time < ended_before,
        sa.or_(last_join.is_(None), last_join < ended_before),
    )
    return sa.case((lapsed, meeting_pb2.MEETING_STATE_ENDED), else_=meetings.c.state)


@dataclass(frozen=True)
class MeetingQuery:
    """Filters of ListMeetings, normalised; empty values and 0 mean any."""

    project_id: str = ""
    client_id: str = ""
    start_from: datetime | None = None
    start_to: datetime | None = None
    state: int = 0
    participant: str = ""  # `users/{user}` or a folded e-mail
    order_by: str = "start_time"

    def fingerprint(self) -> str:
        return fingerprint("meetings", *astuple(self))

    def where(self, ended_before: datetime) -> list[Any]:
        """The filters; `state` as read at `ended_before` (`MeetingRecord.state_at`)."""
        clauses: list[Any] = []
        if self.project_id:
            clauses.append(meetings.c.project_id == self.project_id)
        if self.client_id:
            of_client = sa.select(projects.c.id).where(projects.c.client_id == self.client_id)
            clauses.append(meetings.c.project_id.in_(of_client))
        if self.start_from is not None:
            clauses.append(meetings.c.start_time >= self.start_from)
        if self.start_to is not None:
            clauses.append(meetings.c.start_time < self.start_to)
        if self.state:
            clauses.append(state_at(ended_before) == self.state)
        if self.participant:
            column = (
                participants.c.user_subject if "/" in self.participant else participants.c.email_key
            )
            clauses.append(
                sa.select(participants.c.id)
                .where(participants.c.meeting_id == meetings.c.id, column == self.participant)
                .exists()
            )
        return clauses


class MeetingStore:
    """Reads and writes of meetings and their participants within one transaction. Handlers
    decide who may touch a meeting (`access`); lists filter with `visible_to`."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, meeting_id: str, *, lock: bool = False) -> MeetingRecord | None:
        """The meeting with its participants; `lock` holds its row (PostgreSQL) until the
        transaction ends, so concurrent joins, leaves and invitations apply one by one."""
        rows = await self._meetings([meetings.c.id == meeting_id], lock=lock)
        return rows[0] if rows else None

    async def add(self, record: MeetingRecord) -> None:
        await self._session.execute(sa.insert(meetings).values(_meeting_row(record)))
        changes.written(self._session)
        await self.add_participants(record.participants)

    async def save(self, record: MeetingRecord) -> None:
        values = _meeting_row(record)
        del values["id"], values["create_time"]
        await self._session.execute(
            sa.update(meetings).where(meetings.c.id == record.id).values(values)
        )
        changes.written(self._session)

    async def delete(self, meeting_id: str) -> list[str]:
        """The recording files the meeting leaves behind; rows below it go by cascade."""
        paths = await self._recording_files(meetings.c.id == meeting_id)
        await self._session.execute(sa.delete(meetings).where(meetings.c.id == meeting_id))
        return paths

    async def recording_files(self, project_ids: ProjectIds) -> list[str]:
        """The files of every recording of the projects' meetings, read before the projects
        are deleted (their meetings go by cascade)."""
        return await self._recording_files(meetings.c.project_id.in_(project_ids))

    async def _recording_files(self, *where: sa.ColumnElement[bool]) -> list[str]:
        """The files of every recording of the meetings matching `where`, read before those
        meetings are deleted: their rows go by cascade, their files must be removed after the
        transaction commits (a rolled-back delete keeps its files)."""
        statement = (
            sa.select(recordings.c.path)
            .select_from(recordings.join(meetings, meetings.c.id == recordings.c.meeting_id))
            .where(*where)
        )
        return list((await self._session.execute(statement)).scalars())

    async def listing(
        self, subject: str | None, query: MeetingQuery, page: Page, ended_before: datetime
    ) -> Listing[MeetingRecord]:
        """One page of the meetings `subject` may see (`visible_to`) matching `query`."""
        where = [*visible_to(subject), *query.where(ended_before)]
        order = MEETING_ORDERS[query.order_by]
        after = [] if page.cursor is None else [order.after(page.cursor)]
        found = await self._meetings([*where, *after], order.clauses(), page.size + 1)
        count = sa.select(sa.func.count()).select_from(meetings).where(*where)
        total = int((await self._session.execute(count)).scalar_one())
        return Listing(found[: page.size], len(found) > page.size, total)

    async def erase(self, organizer: str) -> tuple[int, list[str]]:
        """The meetings `organizer` scheduled, and those in the projects they own, for account
        erasure: how many went, and the recording files to remove once committed (the rows
        below the meetings go by cascade)."""
        owned = sa.select(projects.c.id).where(projects.c.owner == organizer)
        theirs = sa.or_(meetings.c.organizer == organizer, meetings.c.project_id.in_(owned))
        paths = await self._recording_files(theirs)
        gone = await self._session.execute(sa.delete(meetings).where(theirs))
        return int(gone.rowcount), paths  # type: ignore[attr-defined]

    async def counts(self, project_ids: Iterable[str]) -> dict[str, int]:
        """How many meetings each project has."""
        ids = list(project_ids)
        if not ids:
            return {}
        rows = await self._session.execute(
            sa.select(meetings.c.project_id, sa.func.count())
            .where(meetings.c.project_id.in_(ids))
            .group_by(meetings.c.project_id)
        )
        return {project_id: int(count) for project_id, count in rows}

    async def of_project(
        self, project_id: str, ids: Sequence[str] = (), limit: int | None = None
    ) -> list[MeetingRecord]:
        """The project's meetings (only `ids` among them, when given), newest first."""
        where = [meetings.c.project_id == project_id]
        if ids:
            where.append(meetings.c.id.in_(list(ids)))
        order = MEETING_ORDERS["start_time desc"].clauses()
        return await self._meetings(where, order, limit)

    async def figures(self, project_ids: ProjectIds, now: datetime) -> MeetingFigures:
        """The figures over the meetings of `project_ids`; the caller has checked that the
        viewer may see those projects."""
        of = meetings.c.project_id.in_(project_ids)
        count, upcoming, last, following = await self._schedule(of, now)
        recording_count, recorded_ms = await self._recorded(of)
        summarized = await self._session.execute(
            sa.select(sa.func.count())
            .select_from(summaries.join(meetings, meetings.c.id == summaries.c.meeting_id))
            .where(of, summaries.c.state == meeting_pb2.PROCESSING_STATE_COMPLETED)
        )
        commitments = await SummaryStore(self._session).commitments(of)
        return MeetingFigures(
            meeting_count=count,
            upcoming_meeting_count=upcoming,
            last_meeting_time=last,
            next_meeting_time=following,
            recording_count=recording_count,
            recorded_ms=recorded_ms,
            summarized_meeting_count=int(summarized.scalar_one()),
            commitment_count=len(commitments),
            overdue_commitment_count=sum(c.is_overdue(now.date()) for c in commitments),
        )

    async def _schedule(
        self, of: sa.ColumnElement[bool], now: datetime
    ) -> tuple[int, int, datetime | None, datetime | None]:
        """Meeting count, upcoming count, the last held start (when it really started, if
        someone joined) and the next upcoming start."""
        ahead = sa.and_(
            meetings.c.state == meeting_pb2.MEETING_STATE_SCHEDULED, meetings.c.start_time > now
        )
        held_start = sa.func.coalesce(meetings.c.actual_start_time, meetings.c.start_time)
        statement = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((ahead, 1), else_=0)), 0),
            sa.func.max(sa.case((sa.not_(ahead), held_start))),
            sa.func.min(sa.case((ahead, meetings.c.start_time))),
        ).where(of)
        row = (await self._session.execute(statement)).one()
        last, following = (None if t is None else utc(t) for t in row[2:])
        return int(row[0]), int(row[1]), last, following

    async def _recorded(self, of: sa.ColumnElement[bool]) -> tuple[int, int]:
        """Recordings in any state, and their summed length (known once transcribed)."""
        statement = (
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(recordings.c.duration_ms), 0))
            .select_from(recordings.join(meetings, meetings.c.id == recordings.c.meeting_id))
            .where(of)
        )
        row = (await self._session.execute(statement)).one()
        return int(row[0]), int(row[1])

    # Participants

    async def add_participants(self, added: Sequence[ParticipantRecord]) -> None:
        if added:
            await self._session.execute(
                sa.insert(participants), [_participant_row(p) for p in added]
            )

    async def save_participant(self, record: ParticipantRecord) -> None:
        values = _participant_row(record)
        await self._session.execute(
            sa.update(participants).where(participants.c.id == record.id).values(values)
        )

    async def delete_participants(self, meeting_id: str, ids: Sequence[str]) -> None:
        await self._session.execute(
            sa.delete(participants).where(
                participants.c.meeting_id == meeting_id, participants.c.id.in_(ids)
            )
        )

    # Helpers

    async def _meetings(
        self, where: list[Any], order: Sequence[Any] = (), limit: int | None = None,
        *, lock: bool = False,
    ) -> list[MeetingRecord]:  # fmt: skip
        owner = sa.select(projects.c.owner).where(projects.c.id == meetings.c.project_id)
        statement = sa.select(meetings, owner.scalar_subquery().label("project_owner")).where(
            *where
        )
        statement = statement.order_by(*order).limit(limit)
        if lock:
            statement = statement.with_for_update(of=meetings)
        rows = list(await self._session.execute(statement))
        ids = [row.id for row in rows]
        people = await self._participants(ids)
        states = await self._recording_states(ids)
        summary_states = await self._summary_states(ids)
        return [
            _meeting(
                row, people.get(row.id, ()), states.get(row.id, ()), summary_states.get(row.id, 0)
            )
            for row in rows
        ]

    async def _participants(self, ids: list[str]) -> dict[str, tuple[ParticipantRecord, ...]]:
        if not ids:
            return {}
        statement = (
            sa.select(participants)
            .where(participants.c.meeting_id.in_(ids))
            .order_by(participants.c.meeting_id, participants.c.position)
        )
        found: dict[str, list[ParticipantRecord]] = {}
        for row in await self._session.execute(statement):
            found.setdefault(row.meeting_id, []).append(_participant(row))
        return {k: tuple(v) for k, v in found.items()}

    async def _recording_states(self, ids: list[str]) -> dict[str, tuple[int, ...]]:
        if not ids:
            return {}
        statement = sa.select(recordings.c.meeting_id, recordings.c.state).where(
            recordings.c.meeting_id.in_(ids)
        )
        found: dict[str, list[int]] = {}
        for meeting_id, state in await self._session.execute(statement):
            found.setdefault(meeting_id, []).append(int(state))
        return {k: tuple(v) for k, v in found.items()}

    async def _summary_states(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        statement = sa.select(summaries.c.meeting_id, summaries.c.state).where(
            summaries.c.meeting_id.in_(ids)
        )
        return {k: int(v) for k, v in await self._session.execute(statement)}


class RecordingStore:
    """Reads and writes of recordings and their transcript segments within one transaction;
    the handlers reach a recording only through its meeting."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def of_meeting(self, meeting_id: str) -> list[RecordingRecord]:
        """The meeting's recordings in the order they were said."""
        statement = (
            sa.select(recordings)
            .where(recordings.c.meeting_id == meeting_id)
            .order_by(recordings.c.meeting_offset_ms, recordings.c.create_time, recordings.c.id)
        )
        return [_recording(row) for row in await self._session.execute(statement)]

    async def get(self, recording_id: str) -> RecordingRecord | None:
        statement = sa.select(recordings).where(recordings.c.id == recording_id)
        row = (await self._session.execute(statement)).first()
        return None if row is None else _recording(row)

    async def add(self, record: RecordingRecord) -> None:
        await self._session.execute(sa.insert(recordings).values(asdict(record)))

    async def update(self, recording_id: str, only_in: Iterable[int], **values: Any) -> bool:
        """Change a recording only while it is in one of `only_in` states (a late or repeated
        pipeline step never moves it backwards); whether it changed."""
        changed = await self._session.execute(
            sa.update(recordings)
            .where(recordings.c.id == recording_id, recordings.c.state.in_(list(only_in)))
            .values(values)
            .returning(recordings.c.id)
        )
        return changed.first() is not None

    async def delete(self, recording_id: str) -> None:
        await self._session.execute(sa.delete(recordings).where(recordings.c.id == recording_id))

    async def add_segments(self, meeting_id: str, added: Sequence[SegmentRecord]) -> None:
        if added:
            rows = [asdict(s) | {"meeting_id": meeting_id, "text_key": fold(s.text)} for s in added]
            await self._session.execute(sa.insert(segments), rows)
            changes.written(self._session)

    async def segments(self, meeting_id: str) -> list[SegmentRecord]:
        """The meeting's transcript: every recording's segments, in the order said."""
        statement = (
            sa.select(segments)
            .join(recordings, recordings.c.id == segments.c.recording_id)
            .where(segments.c.meeting_id == meeting_id)
            .order_by(recordings.c.meeting_offset_ms, recordings.c.id, segments.c.position)
        )
        return [
            SegmentRecord(
                row.recording_id, row.position, row.start_ms, row.end_ms, row.speaker, row.text
            )
            for row in await self._session.execute(statement)
        ]


class SummaryStore:
    """Reads and writes of meeting summaries within one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, meeting_id: str, *, lock: bool = False) -> SummaryRecord | None:
        statement = sa.select(summaries).where(summaries.c.meeting_id == meeting_id)
        if lock:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        return None if row is None else _summary(row)

    async def of_meetings(self, meeting_ids: Sequence[str]) -> dict[str, SummaryRecord]:
        """The summaries of these meetings that have content (their latest completed one)."""
        if not meeting_ids:
            return {}
        statement = sa.select(summaries).where(
            summaries.c.meeting_id.in_(list(meeting_ids)), HAS_CONTENT
        )
        return {row.meeting_id: _summary(row) for row in await self._session.execute(statement)}

    async def commitments(self, *where: sa.ColumnElement[bool]) -> list[Commitment]:
        """The commitments of the summaries with content of the meetings matching `where`:
        only that column is read (they are JSON, counted by the caller, not the database)."""
        statement = (
            sa.select(summaries.c.commitments)
            .select_from(summaries.join(meetings, meetings.c.id == summaries.c.meeting_id))
            .where(HAS_CONTENT, *where)
        )
        found = await self._session.execute(statement)
        return [c for text in found.scalars() for c in _commitments(text)]

    async def put(self, record: SummaryRecord) -> None:
        """Insert or replace the meeting's summary row."""
        values = _summary_row(record)
        updated = await self._session.execute(
            sa.update(summaries)
            .where(summaries.c.meeting_id == record.meeting_id)
            .values(values)
            .returning(summaries.c.meeting_id)
        )
        if updated.first() is None:
            await self._session.execute(sa.insert(summaries).values(values))
        changes.written(self._session)


def _optional_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def _meeting_row(record: MeetingRecord) -> dict[str, Any]:
    values = asdict(record)
    for derived in ("participants", "project_owner", "recording_states", "summary_state"):
        del values[derived]
    return values | {"search_text": search_text(record.title, record.description)}


def _meeting(
    row: sa.Row[Any], people: tuple[ParticipantRecord, ...], states: tuple[int, ...],
    summary_state: int,
) -> MeetingRecord:  # fmt: skip
    data = row._mapping
    return MeetingRecord(
        id=data["id"], organizer=data["organizer"], project_id=data["project_id"],
        title=data["title"], description=data["description"],
        start_time=utc(data["start_time"]), end_time=utc(data["end_time"]),
        time_zone=data["time_zone"], state=data["state"], room_name=data["room_name"],
        actual_start_time=_optional_utc(data["actual_start_time"]),
        actual_end_time=_optional_utc(data["actual_end_time"]),
        create_time=utc(data["create_time"]), update_time=utc(data["update_time"]),
        participants=people, project_owner=data["project_owner"], recording_states=states,
        summary_state=summary_state,
    )  # fmt: skip


def _participant_row(record: ParticipantRecord) -> dict[str, Any]:
    values = asdict(record)
    values["user_subject"] = values.pop("user")
    return values | {"email_key": fold(record.email)}


def _participant(row: sa.Row[Any]) -> ParticipantRecord:
    data = row._mapping
    return ParticipantRecord(
        id=data["id"], meeting_id=data["meeting_id"], position=data["position"],
        display_name=data["display_name"], email=data["email"], user=data["user_subject"],
        role=data["role"], presence=data["presence"],
        join_time=_optional_utc(data["join_time"]), leave_time=_optional_utc(data["leave_time"]),
    )  # fmt: skip


def _recording(row: sa.Row[Any]) -> RecordingRecord:
    data = dict(row._mapping)
    data["create_time"] = utc(data["create_time"])
    data["transcribe_time"] = _optional_utc(data["transcribe_time"])
    return RecordingRecord(**data)


def _summary_row(record: SummaryRecord) -> dict[str, Any]:
    content = record.content
    return {
        "meeting_id": record.meeting_id, "state": record.state, "revision": record.revision,
        "text": content.text, "key_points": json.dumps(content.key_points),
        "decisions": json.dumps(content.decisions),
        "commitments": json.dumps([asdict(c) for c in content.commitments]),
        "next_steps": json.dumps(content.next_steps),
        "participants": json.dumps(content.participants), "language": record.language,
        "model": record.model, "error": record.error, "raw_output": record.raw_output,
        "generate_time": record.generate_time, "update_time": record.update_time,
        "search_text": search_text(*content.lines()),
    }  # fmt: skip


def _summary(row: sa.Row[Any]) -> SummaryRecord:
    data = row._mapping
    content = SummaryContent(
        text=data["text"], key_points=tuple(json.loads(data["key_points"])),
        decisions=tuple(json.loads(data["decisions"])),
        commitments=_commitments(data["commitments"]),
        next_steps=tuple(json.loads(data["next_steps"])),
        participants=tuple(json.loads(data["participants"])),
    )  # fmt: skip
    return SummaryRecord(
        meeting_id=data["meeting_id"], state=data["state"], revision=data["revision"],
        content=content, language=data["language"], model=data["model"], error=data["error"],
        raw_output=data["raw_output"], generate_time=_optional_utc(data["generate_time"]),
        update_time=utc(data["update_time"]),
    )  # fmt: skip


def _commitments(stored: str) -> tuple[Commitment, ...]:
    return tuple(Commitment(**c) for c in json.loads(stored))
