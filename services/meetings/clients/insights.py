"""A project's insights, computed from its data when read: no model is asked, so they are
always current (`stale` is never set, `model` is empty) and cost one read.

Rules, most severe first: past the due date, hours over (or near) the estimate, overdue
commitments, no meeting for a month while ACTIVE, the decisions and next steps of its latest
summaries. Open commitments are every summary's, latest meeting first.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

from services.meetings.clients.convert import hours, hours_used, status_word
from services.meetings.clients.project_content import ProjectContent
from services.meetings.convert import meeting_name, project_name
from services.meetings.meetings import convert as meeting_convert
from services.meetings.meetings.records import MeetingRecord
from voka.meetings.v1 import knowledge_pb2, meeting_pb2, project_pb2
from voka.wellknown import timestamp

QUIET = timedelta(days=30)
HIGH, MEDIUM = knowledge_pb2.INSIGHT_SEVERITY_HIGH, knowledge_pb2.INSIGHT_SEVERITY_MEDIUM
MAX_ITEMS = 5  # decisions and next steps taken from the latest summaries
CLOSED = frozenset({project_pb2.PROJECT_STATUS_COMPLETED, project_pb2.PROJECT_STATUS_CANCELLED})


def _summary_ref(content: ProjectContent, meeting: MeetingRecord) -> knowledge_pb2.SourceRef:
    ref = knowledge_pb2.SourceRef(
        kind=knowledge_pb2.SOURCE_KIND_SUMMARY,
        project=project_name(content.project.id),
        meeting=meeting_name(meeting.id),
        title=meeting.title,
    )
    ref.time.CopyFrom(timestamp(meeting.start_time))
    return ref


def open_commitments(content: ProjectContent, today: date) -> list[meeting_pb2.Commitment]:
    return [
        meeting_convert.commitment(c, meeting.id, today)
        for meeting in content.meetings
        for c in (content.summaries[meeting.id].content.commitments
                  if meeting.id in content.summaries else ())
    ]  # fmt: skip


def _schedule(content: ProjectContent, now: datetime) -> Iterator[knowledge_pb2.Insight]:
    p = content.project
    if p.due_date and p.due_date < now.date() and p.status not in CLOSED:
        yield knowledge_pb2.Insight(
            kind=knowledge_pb2.INSIGHT_KIND_RISK,
            severity=knowledge_pb2.INSIGHT_SEVERITY_HIGH,
            title="Past its due date",
            detail=f"Due {p.due_date.isoformat()}, {p.progress_percent}% done.",
        )
    used = hours_used(p.estimated_centihours, p.spent_centihours)
    if used >= 90:
        severity = (
            knowledge_pb2.INSIGHT_SEVERITY_HIGH
            if used > 100
            else knowledge_pb2.INSIGHT_SEVERITY_MEDIUM
        )
        yield knowledge_pb2.Insight(
            kind=knowledge_pb2.INSIGHT_KIND_RISK,
            severity=severity,
            title="Hours near or over budget",
            detail=f"{hours(p.spent_centihours)} of {hours(p.estimated_centihours)} "
            f"estimated hours spent ({used}%).",
        )
    held = [m.start_time for m in content.meetings if m.start_time <= now]
    if p.status == project_pb2.PROJECT_STATUS_ACTIVE and (not held or now - max(held) > QUIET):
        yield knowledge_pb2.Insight(
            kind=knowledge_pb2.INSIGHT_KIND_TREND,
            severity=knowledge_pb2.INSIGHT_SEVERITY_MEDIUM,
            title="No recent meetings",
            detail="The project is active but has had no meeting for 30 days.",
        )


def _from_summaries(
    content: ProjectContent, overdue: list[meeting_pb2.Commitment]
) -> Iterator[knowledge_pb2.Insight]:
    by_name = {meeting_name(m.id): m for m in content.meetings}
    if overdue:
        refs = [_summary_ref(content, by_name[c.meeting]) for c in overdue]
        yield knowledge_pb2.Insight(
            kind=knowledge_pb2.INSIGHT_KIND_RISK,
            severity=knowledge_pb2.INSIGHT_SEVERITY_HIGH
            if len(overdue) > 2
            else knowledge_pb2.INSIGHT_SEVERITY_MEDIUM,
            title=f"{len(overdue)} overdue commitment(s)",
            detail="; ".join(
                f"{c.owner or 'someone'}: {c.description} (due {c.due_date})" for c in overdue
            ),
            sources=refs[:MAX_ITEMS],
        )
    summarized = [m for m in content.meetings if m.id in content.summaries]
    decisions = [(m, d) for m in summarized for d in content.summaries[m.id].content.decisions]
    for meeting, decision in decisions[:MAX_ITEMS]:
        yield knowledge_pb2.Insight(
            kind=knowledge_pb2.INSIGHT_KIND_DECISION,
            severity=knowledge_pb2.INSIGHT_SEVERITY_LOW,
            title=decision[:120],
            detail=decision,
            sources=[_summary_ref(content, meeting)],
        )
    if summarized:
        latest = summarized[0]
        for step in content.summaries[latest.id].content.next_steps[:MAX_ITEMS]:
            yield knowledge_pb2.Insight(
                kind=knowledge_pb2.INSIGHT_KIND_RECOMMENDATION,
                severity=knowledge_pb2.INSIGHT_SEVERITY_MEDIUM,
                title=step[:120],
                detail=step,
                sources=[_summary_ref(content, latest)],
            )


def _overview(content: ProjectContent, commitments: list[meeting_pb2.Commitment]) -> str:
    p = content.project
    text = [
        f"{p.title} is {status_word(p.status)} at {p.progress_percent}%.",
        f"{len(content.meetings)} meeting(s), {len(content.summaries)} summarised.",
    ]
    if content.meetings:
        text.append(
            f"Latest: {content.meetings[0].title} on "
            f"{content.meetings[0].start_time.date().isoformat()}."
        )
    overdue = sum(c.overdue for c in commitments)
    text.append(f"{len(commitments)} commitment(s), {overdue} overdue.")
    return " ".join(text)


def insights(content: ProjectContent, now: datetime) -> knowledge_pb2.ProjectInsights:
    commitments = open_commitments(content, now.date())
    overdue = [c for c in commitments if c.overdue]
    found = [*_schedule(content, now), *_from_summaries(content, overdue)]
    found.sort(key=lambda i: i.severity, reverse=True)  # stable: rule order within a severity
    return knowledge_pb2.ProjectInsights(
        name=f"{project_name(content.project.id)}/insights",
        overview=_overview(content, commitments),
        insights=found,
        open_commitments=commitments,
        meeting_count=len(content.summaries),
        generate_time=timestamp(now),
    )
