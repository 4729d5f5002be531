"""What the service keeps about clients and projects, as plain values.

Handlers build and change these; the store turns them into rows (adding the derived search and
sort columns) and back, so neither side handles raw SQL rows or protobuf messages directly.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from voka.meetings.v1 import project_pb2


@dataclass(frozen=True)
class ClientRecord:
    """One client row; `project_count` is counted when read, never stored."""

    id: str
    owner: str
    display_name: str
    contact_email: str
    company: str
    phone: str
    notes: str
    create_time: datetime
    update_time: datetime
    project_count: int = 0


@dataclass(frozen=True)
class ProjectRecord:
    """One project row with its tags. Hours are kept in hundredths so sums stay exact on SQLite
    (which has no decimal type); `None` means not set."""

    id: str
    owner: str
    client_id: str | None
    title: str
    description: str
    status: int
    progress_percent: int
    budget_currency: str | None
    budget_minor: int | None
    estimated_centihours: int | None
    spent_centihours: int | None
    start_date: date | None
    due_date: date | None
    tags: tuple[str, ...]
    complete_time: datetime | None
    create_time: datetime
    update_time: datetime


@dataclass(frozen=True)
class ClientFigures:
    """Aggregates over one client's projects, as the database computed them."""

    by_status: list[tuple[int, int]]
    budgets: list[tuple[str, int]]
    estimated_centihours: int
    spent_centihours: int
    average_active_progress: float | None

    @property
    def project_count(self) -> int:
        return sum(count for _, count in self.by_status)


def new_client(client_id: str, owner: str, values: dict[str, Any], now: datetime) -> ClientRecord:
    """A client from validated field values; times are the server's, never the caller's."""
    return ClientRecord(id=client_id, owner=owner, create_time=now, update_time=now, **values)


def new_project(
    project_id: str, owner: str, values: dict[str, Any], now: datetime
) -> ProjectRecord:
    """A project from validated field values; an unset status starts as PLANNING."""
    status = values["status"] or project_pb2.PROJECT_STATUS_PLANNING
    return ProjectRecord(
        id=project_id,
        owner=owner,
        complete_time=now if status == project_pb2.PROJECT_STATUS_COMPLETED else None,
        create_time=now,
        update_time=now,
        **{**values, "status": status},
    )


def changed_client(record: ClientRecord, values: dict[str, Any], now: datetime) -> ClientRecord:
    """The client with the masked fields replaced and a new update time."""
    return dataclasses.replace(record, **values, update_time=now)


def changed_project(record: ProjectRecord, values: dict[str, Any], now: datetime) -> ProjectRecord:
    """The project with the masked fields replaced. `complete_time` marks the last move into
    COMPLETED, so it is set on that transition and kept when the project is reopened."""
    changed = dataclasses.replace(record, **values, update_time=now)
    completed = project_pb2.PROJECT_STATUS_COMPLETED
    if changed.status == completed and record.status != completed:
        changed = dataclasses.replace(changed, complete_time=now)
    return changed
