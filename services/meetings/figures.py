"""Meeting figures of a set of projects (one project, or a client's), computed when asked.

Counts, sums and first/last times are aggregates the database computes, in queries that read
the same on SQLite and PostgreSQL. Commitments are the exception: they are JSON lists inside
summaries (no portable SQL reads them), so only their column is fetched and they are counted
here, with the same overdue rule as summaries and insights.

A meeting is *upcoming* while it is SCHEDULED and its start is ahead; every other meeting has
been *held* (or was due and never joined), so the two counts always add up to the total, and
the last and next meeting times come from either side.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings.meeting_store import MeetingRepo, meetings, recordings, summaries
from voka.meetings.v1 import meeting_pb2
from voka.wellknown import utc

M = meeting_pb2
ProjectIds = Sequence[str] | sa.Select[Any]  # ids, or a query selecting them


@dataclass(frozen=True)
class MeetingFigures:
    meeting_count: int = 0
    upcoming_meeting_count: int = 0
    last_meeting_time: datetime | None = None
    next_meeting_time: datetime | None = None
    recording_count: int = 0
    recorded_ms: int = 0
    summarized_meeting_count: int = 0
    commitment_count: int = 0
    overdue_commitment_count: int = 0


def _upcoming(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(meetings.c.state == M.MEETING_STATE_SCHEDULED, meetings.c.start_time > now)


async def meeting_figures(
    session: AsyncSession, project_ids: ProjectIds, now: datetime
) -> MeetingFigures:
    """The figures over the meetings of `project_ids`; the caller has checked they are the
    viewer's own projects."""
    of = meetings.c.project_id.in_(project_ids)
    count, upcoming, last, following = await _schedule(session, of, now)
    recording_count, recorded_ms = await _recorded(session, of)
    summarized = await session.execute(
        sa.select(sa.func.count())
        .select_from(summaries.join(meetings, meetings.c.id == summaries.c.meeting_id))
        .where(of, summaries.c.state == M.PROCESSING_STATE_COMPLETED)
    )
    commitments = await MeetingRepo(session).commitments(of)
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
    session: AsyncSession, of: sa.ColumnElement[bool], now: datetime
) -> tuple[int, int, datetime | None, datetime | None]:
    """Meeting count, upcoming count, the last held start (when it really started, if
    someone joined) and the next upcoming start."""
    ahead = _upcoming(now)
    held_start = sa.func.coalesce(meetings.c.actual_start_time, meetings.c.start_time)
    row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(sa.case((ahead, 1), else_=0)), 0),
                sa.func.max(sa.case((sa.not_(ahead), held_start))),
                sa.func.min(sa.case((ahead, meetings.c.start_time))),
            ).where(of)
        )
    ).one()
    last, following = (None if t is None else utc(t) for t in row[2:])
    return int(row[0]), int(row[1]), last, following


async def _recorded(session: AsyncSession, of: sa.ColumnElement[bool]) -> tuple[int, int]:
    """Recordings in any state, and their summed length (known once transcribed)."""
    row = (
        await session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(recordings.c.duration_ms), 0))
            .select_from(recordings.join(meetings, meetings.c.id == recordings.c.meeting_id))
            .where(of)
        )
    ).one()
    return int(row[0]), int(row[1])
