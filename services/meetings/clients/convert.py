"""Client and project records, and the figures over them, → contract messages. Hours are
kept in hundredths and money in minor units, so the contract's decimal strings are made here."""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from services.meetings.clients.records import ClientFigures, ClientRecord, ProjectRecord
from services.meetings.convert import client_name, project_name, set_time
from services.meetings.meetings.records import MeetingFigures
from voka.meetings.v1 import client_pb2, project_pb2
from voka.wellknown import duration, timestamp


def hours(centihours: int | None) -> str:
    """Hundredths of an hour as the contract's decimal string: 12050 → "120.5", None → ""."""
    if centihours is None:
        return ""
    whole, fraction = divmod(centihours, 100)
    return f"{whole}.{fraction:02d}".rstrip("0").rstrip(".")


def round_half_up(value: float | Decimal) -> int:
    """Half up, as people round percentages (Python's round() rounds half to even)."""
    return int(Decimal(str(value)).quantize(Decimal(1), ROUND_HALF_UP))


def hours_used(estimated: int | None, spent: int | None) -> int:
    """Spent over estimated in percent, rounded half up; 0 without an estimate."""
    if not estimated:
        return 0
    return round_half_up(Decimal(spent or 0) * 100 / Decimal(estimated))


def status_word(status: int) -> str:
    """A project status as a word for prompts and overviews: `active`, `on_hold`, ..."""
    name = project_pb2.ProjectStatus.Name(status)  # type: ignore[arg-type]
    return name.removeprefix("PROJECT_STATUS_").lower()


def client(record: ClientRecord) -> client_pb2.Client:
    return client_pb2.Client(
        name=client_name(record.id),
        display_name=record.display_name,
        contact_email=record.contact_email,
        company=record.company,
        phone=record.phone,
        notes=record.notes,
        owner=record.owner,
        project_count=record.project_count,
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )


def project(record: ProjectRecord, meeting_count: int = 0) -> project_pb2.Project:
    """`meeting_count` is counted when read (0 for a project just created)."""
    message = project_pb2.Project(
        name=project_name(record.id),
        client=client_name(record.client_id) if record.client_id else "",
        title=record.title,
        description=record.description,
        status=record.status,  # type: ignore[arg-type]
        progress_percent=record.progress_percent,
        estimated_hours=hours(record.estimated_centihours),
        spent_hours=hours(record.spent_centihours),
        start_date=_iso(record.start_date),
        due_date=_iso(record.due_date),
        tags=record.tags,
        owner=record.owner,
        meeting_count=meeting_count,
        create_time=timestamp(record.create_time),
        update_time=timestamp(record.update_time),
    )
    if record.budget_currency is not None:
        message.budget.CopyFrom(money(record.budget_currency, record.budget_minor or 0))
    set_time(message, "complete_time", record.complete_time)
    return message


def money(currency: str, amount_minor: int) -> project_pb2.Money:
    return project_pb2.Money(currency_code=currency, amount_minor=amount_minor)


def client_stats(
    client_id: str, figures: ClientFigures, meetings: MeetingFigures, now: datetime
) -> client_pb2.ClientStats:
    average = figures.average_active_progress
    stats = client_pb2.ClientStats(
        client=client_name(client_id),
        project_count=figures.project_count,
        projects_by_status=[
            project_pb2.ProjectStatusCount(status=s, count=n)  # type: ignore[arg-type]
            for s, n in figures.by_status
        ],
        budget_totals=[money(c, a) for c, a in figures.budgets],
        estimated_hours=hours(figures.estimated_centihours),
        spent_hours=hours(figures.spent_centihours),
        average_progress_percent=0 if average is None else round_half_up(average),
        meeting_count=meetings.meeting_count,
        recorded_duration=duration(meetings.recorded_ms / 1000),
        overdue_commitment_count=meetings.overdue_commitment_count,
        compute_time=timestamp(now),
    )
    _meeting_times(stats, meetings)
    return stats


def project_stats(
    record: ProjectRecord, meetings: MeetingFigures, chat_questions: int, now: datetime
) -> project_pb2.ProjectStats:
    """Figures of one project: its own columns, its meetings' and its chat's."""
    stats = project_pb2.ProjectStats(
        project=project_name(record.id),
        status=record.status,  # type: ignore[arg-type]
        progress_percent=record.progress_percent,
        estimated_hours=hours(record.estimated_centihours or 0),
        spent_hours=hours(record.spent_centihours or 0),
        hours_used_percent=hours_used(record.estimated_centihours, record.spent_centihours),
        days_until_due=(record.due_date - now.date()).days if record.due_date else 0,
        meeting_count=meetings.meeting_count,
        upcoming_meeting_count=meetings.upcoming_meeting_count,
        recording_count=meetings.recording_count,
        recorded_duration=duration(meetings.recorded_ms / 1000),
        summarized_meeting_count=meetings.summarized_meeting_count,
        commitment_count=meetings.commitment_count,
        overdue_commitment_count=meetings.overdue_commitment_count,
        chat_question_count=chat_questions,
        compute_time=timestamp(now),
    )
    if record.budget_currency is not None:
        stats.budget.CopyFrom(money(record.budget_currency, record.budget_minor or 0))
    _meeting_times(stats, meetings)
    return stats


def _meeting_times(
    stats: project_pb2.ProjectStats | client_pb2.ClientStats, meetings: MeetingFigures
) -> None:
    """The last and next meeting times, left unset when there is none."""
    set_time(stats, "last_meeting_time", meetings.last_meeting_time)
    set_time(stats, "next_meeting_time", meetings.next_meeting_time)


def _iso(value: date | None) -> str:
    return value.isoformat() if value is not None else ""
