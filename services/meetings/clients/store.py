"""The clients and projects tables and every query on them.

A project's client must have the project's owner (a composite foreign key), so one user's rows
can never be linked to another's. Who may read a row is the handlers' call (`voka.tenancy`);
lists take the owner they show as a query condition.

Search and ordering use derived columns written with each row (case-folded text, `schema`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, astuple, dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings.chat import changes
from services.meetings.clients.records import ClientFigures, ClientRecord, ProjectRecord
from services.meetings.schema import contains_all, fold, metadata, search_text
from voka.meetings.v1 import project_pb2
from voka.pagination import Listing, Order, Page, fingerprint
from voka.wellknown import utc

FAR_DATE = date(9999, 12, 31)  # projects without a due date sort last by due date

# Mirrors migrations/versions/0001_clients_projects.py; the migration is what creates them.
clients = sa.Table(
    "meetings_clients",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("contact_email", sa.String(320), nullable=False),
    sa.Column("company", sa.String(200), nullable=False),
    sa.Column("phone", sa.String(64), nullable=False),
    sa.Column("notes", sa.Text(), nullable=False),
    sa.Column("sort_key", sa.Text(), nullable=False),
    sa.Column("company_key", sa.Text(), nullable=False),
    sa.Column("search_text", sa.Text(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("owner", "id", name="uq_meetings_clients_owner_id"),
)

projects = sa.Table(
    "meetings_projects",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("client_id", sa.String(32), nullable=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("status", sa.Integer(), nullable=False),
    sa.Column("progress_percent", sa.Integer(), nullable=False),
    sa.Column("budget_currency", sa.String(3), nullable=True),
    sa.Column("budget_minor", sa.BigInteger(), nullable=True),
    sa.Column("estimated_centihours", sa.BigInteger(), nullable=True),
    sa.Column("spent_centihours", sa.BigInteger(), nullable=True),
    sa.Column("start_date", sa.Date(), nullable=True),
    sa.Column("due_date", sa.Date(), nullable=True),
    sa.Column("complete_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("title_key", sa.Text(), nullable=False),
    sa.Column("search_text", sa.Text(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(
        ["owner", "client_id"],
        ["meetings_clients.owner", "meetings_clients.id"],
        name="fk_meetings_projects_client",
    ),
)

project_tags = sa.Table(
    "meetings_project_tags",
    metadata,
    sa.Column(
        "project_id",
        sa.String(32),
        sa.ForeignKey("meetings_projects.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer(), primary_key=True),
    sa.Column("tag", sa.String(40), nullable=False),
)

ProjectIds = Sequence[str] | sa.Select[Any]  # ids, or a query selecting them

CLIENT_ORDERS: dict[str, Order[ClientRecord]] = {
    "display_name": Order(
        clients.c.sort_key, clients.c.id, False, "str", lambda r: fold(r.display_name)
    ),
    "create_time desc": Order(
        clients.c.create_time, clients.c.id, True, "datetime", lambda r: r.create_time
    ),
    "update_time desc": Order(
        clients.c.update_time, clients.c.id, True, "datetime", lambda r: r.update_time
    ),
}

PROJECT_ORDERS: dict[str, Order[ProjectRecord]] = {
    "update_time desc": Order(
        projects.c.update_time, projects.c.id, True, "datetime", lambda r: r.update_time
    ),
    "create_time desc": Order(
        projects.c.create_time, projects.c.id, True, "datetime", lambda r: r.create_time
    ),
    "title": Order(projects.c.title_key, projects.c.id, False, "str", lambda r: fold(r.title)),
    "due_date": Order(
        sa.func.coalesce(projects.c.due_date, sa.literal(FAR_DATE, sa.Date())),
        projects.c.id,
        False,
        "date",
        lambda r: r.due_date or FAR_DATE,
    ),
    "progress_percent desc": Order(
        projects.c.progress_percent, projects.c.id, True, "int", lambda r: r.progress_percent
    ),
}


@dataclass(frozen=True)
class ClientQuery:
    """Filters of ListClients, normalised (folded words, folded company)."""

    words: tuple[str, ...] = ()
    company: str = ""
    order_by: str = "display_name"

    def fingerprint(self) -> str:
        return fingerprint("clients", *astuple(self))

    def where(self) -> list[Any]:
        clauses = contains_all(clients.c.search_text, self.words)
        if self.company:
            clauses.append(clients.c.company_key == self.company)
        return clauses


@dataclass(frozen=True)
class ProjectQuery:
    """Filters of ListProjects, normalised; status 0 and empty strings mean any."""

    status: int = 0
    client_id: str = ""
    words: tuple[str, ...] = ()
    tag: str = ""
    order_by: str = "update_time desc"

    def fingerprint(self) -> str:
        return fingerprint("projects", *astuple(self))

    def where(self) -> list[Any]:
        clauses = contains_all(projects.c.search_text, self.words)
        if self.status:
            clauses.append(projects.c.status == self.status)
        if self.client_id:
            clauses.append(projects.c.client_id == self.client_id)
        if self.tag:
            tagged = sa.select(project_tags.c.project_id).where(
                project_tags.c.project_id == projects.c.id, project_tags.c.tag == self.tag
            )
            clauses.append(tagged.exists())
        return clauses


class _KeysetStore:
    """What the two stores share: one transaction, keyset pages and counts."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _page(
        self, statement: sa.Select[Any], order: Order[Any], page: Page
    ) -> Sequence[sa.Row[Any]]:
        """One row more than asked, so the caller knows whether another page follows."""
        if page.cursor is not None:
            statement = statement.where(order.after(page.cursor))
        statement = statement.order_by(*order.clauses()).limit(page.size + 1)
        return list((await self._session.execute(statement)).all())

    async def _count(self, table: sa.Table, where: list[Any]) -> int:
        statement = sa.select(sa.func.count()).select_from(table).where(*where)
        return int((await self._session.execute(statement)).scalar_one())


class ClientStore(_KeysetStore):
    """Reads and writes of clients within one transaction."""

    async def get(self, client_id: str) -> ClientRecord | None:
        statement = _client_select().where(clients.c.id == client_id)
        row = (await self._session.execute(statement)).first()
        return None if row is None else _client_record(row)

    async def lock(self, client_id: str, *, exclusive: bool) -> str | None:
        """The client's owner (None: no such client), locking its row (PostgreSQL) until the
        transaction ends: exclusively before deleting it, shared before linking a project to
        it, so a project cannot be attached to a client being deleted. SQLite's single writer
        needs no lock."""
        statement = sa.select(clients.c.owner).where(clients.c.id == client_id)
        if exclusive:
            statement = statement.with_for_update()
        else:
            statement = statement.with_for_update(read=True, key_share=True)
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def add(self, record: ClientRecord) -> None:
        await self._session.execute(sa.insert(clients).values(_client_row(record)))
        changes.written(self._session)

    async def save(self, record: ClientRecord) -> None:
        values = _client_row(record)
        for fixed in ("id", "owner", "create_time"):
            del values[fixed]
        await self._session.execute(
            sa.update(clients).where(clients.c.id == record.id).values(values)
        )
        changes.written(self._session)

    async def delete(self, client_id: str) -> None:
        """The client and its projects (their tags go by cascade)."""
        await self._session.execute(sa.delete(projects).where(projects.c.client_id == client_id))
        await self._session.execute(sa.delete(clients).where(clients.c.id == client_id))

    async def erase(self, owner: str) -> int:
        """Every client of `owner`, for account erasure (their projects go first)."""
        gone = await self._session.execute(sa.delete(clients).where(clients.c.owner == owner))
        return int(gone.rowcount)  # type: ignore[attr-defined]

    async def listing(
        self, owner: str | None, query: ClientQuery, page: Page
    ) -> Listing[ClientRecord]:
        """One page of `owner`'s clients (None: everyone's) matching `query`."""
        where = [*owned_by(clients, owner), *query.where()]
        order = CLIENT_ORDERS[query.order_by]
        rows = await self._page(_client_select().where(*where), order, page)
        items = [_client_record(row) for row in rows[: page.size]]
        return Listing(items, len(rows) > page.size, await self._count(clients, where))

    async def figures(self, client_id: str) -> ClientFigures:
        """Counts and sums over the client's projects, each computed by the database."""
        of_client = projects.c.client_id == client_id
        by_status = await self._session.execute(
            sa.select(projects.c.status, sa.func.count())
            .where(of_client)
            .group_by(projects.c.status)
            .order_by(projects.c.status)
        )
        budgets = await self._session.execute(
            sa.select(projects.c.budget_currency, sa.func.sum(projects.c.budget_minor))
            .where(of_client, projects.c.budget_currency.is_not(None))
            .group_by(projects.c.budget_currency)
            .order_by(projects.c.budget_currency)
        )
        totals = (await self._session.execute(_totals().where(of_client))).one()
        return ClientFigures(
            by_status=[(int(s), int(n)) for s, n in by_status],
            budgets=[(str(c), int(a)) for c, a in budgets],
            estimated_centihours=int(totals[0]),
            spent_centihours=int(totals[1]),
            average_active_progress=None if totals[2] is None else float(totals[2]),
        )


class ProjectStore(_KeysetStore):
    """Reads and writes of projects and their tags within one transaction."""

    async def get(self, project_id: str) -> ProjectRecord | None:
        statement = sa.select(projects).where(projects.c.id == project_id)
        row = (await self._session.execute(statement)).first()
        if row is None:
            return None
        tags = await self._tags([project_id])
        return _project_record(row, tags.get(project_id, ()))

    async def owner_of(self, project_id: str) -> str | None:
        """The project's owner; None when there is no such project."""
        statement = sa.select(projects.c.owner).where(projects.c.id == project_id)
        return (await self._session.execute(statement)).scalar_one_or_none()

    async def add(self, record: ProjectRecord) -> None:
        await self._session.execute(sa.insert(projects).values(_project_row(record)))
        changes.written(self._session)
        await self._write_tags(record)

    async def save(self, record: ProjectRecord) -> None:
        values = _project_row(record)
        for fixed in ("id", "owner", "create_time"):
            del values[fixed]
        await self._session.execute(
            sa.update(projects).where(projects.c.id == record.id).values(values)
        )
        changes.written(self._session)
        await self._session.execute(
            sa.delete(project_tags).where(project_tags.c.project_id == record.id)
        )
        await self._write_tags(record)

    async def delete(self, project_id: str) -> None:
        """The project; its tags (and its meetings, with all under them) go by cascade."""
        await self._session.execute(sa.delete(projects).where(projects.c.id == project_id))

    async def erase(self, owner: str) -> int:
        """Every project of `owner`, for account erasure (tags, and the projects' meetings
        with all under them, go by cascade)."""
        gone = await self._session.execute(sa.delete(projects).where(projects.c.owner == owner))
        return int(gone.rowcount)  # type: ignore[attr-defined]

    def of_client(self, client_id: str) -> sa.Select[Any]:
        """A query of the ids of the client's projects, for figures over their meetings."""
        return sa.select(projects.c.id).where(projects.c.client_id == client_id)

    async def count_of_client(self, client_id: str) -> int:
        statement = sa.select(sa.func.count()).where(projects.c.client_id == client_id)
        return int((await self._session.execute(statement)).scalar_one())

    async def listing(
        self, owner: str | None, query: ProjectQuery, page: Page
    ) -> Listing[ProjectRecord]:
        """One page of `owner`'s projects (None: everyone's) matching `query`."""
        where = [*owned_by(projects, owner), *query.where()]
        order = PROJECT_ORDERS[query.order_by]
        rows = await self._page(sa.select(projects).where(*where), order, page)
        shown = rows[: page.size]
        tags = await self._tags([row.id for row in shown])
        items = [_project_record(row, tags.get(row.id, ())) for row in shown]
        return Listing(items, len(rows) > page.size, await self._count(projects, where))

    async def _tags(self, project_ids: list[str]) -> dict[str, tuple[str, ...]]:
        if not project_ids:
            return {}
        rows = await self._session.execute(
            sa.select(project_tags.c.project_id, project_tags.c.tag)
            .where(project_tags.c.project_id.in_(project_ids))
            .order_by(project_tags.c.project_id, project_tags.c.position)
        )
        tags: dict[str, list[str]] = {}
        for project_id, tag in rows:
            tags.setdefault(project_id, []).append(tag)
        return {k: tuple(v) for k, v in tags.items()}

    async def _write_tags(self, record: ProjectRecord) -> None:
        if record.tags:
            rows = [
                {"project_id": record.id, "position": i, "tag": tag}
                for i, tag in enumerate(record.tags)
            ]
            await self._session.execute(sa.insert(project_tags), rows)


def owned_by(table: sa.Table, owner: str | None) -> list[sa.ColumnElement[bool]]:
    """The rows of `owner` (`voka.tenancy.list_owner`); None: every owner's."""
    return [] if owner is None else [table.c.owner == owner]


def _project_count() -> sa.ScalarSelect[int]:
    return (
        sa.select(sa.func.count())
        .where(projects.c.owner == clients.c.owner, projects.c.client_id == clients.c.id)
        .scalar_subquery()
    )


def _client_select() -> sa.Select[Any]:
    return sa.select(clients, _project_count().label("project_count"))


def _totals() -> sa.Select[Any]:
    """Hour sums (0 when none) and the mean progress of ACTIVE projects (None when none)."""
    active = projects.c.status == project_pb2.PROJECT_STATUS_ACTIVE
    return sa.select(
        sa.func.coalesce(sa.func.sum(projects.c.estimated_centihours), 0),
        sa.func.coalesce(sa.func.sum(projects.c.spent_centihours), 0),
        sa.func.avg(sa.case((active, projects.c.progress_percent), else_=None)),
    )


def _client_row(record: ClientRecord) -> dict[str, Any]:
    values = asdict(record)
    del values["project_count"]
    return values | {
        "sort_key": fold(record.display_name),
        "company_key": fold(record.company),
        "search_text": search_text(
            record.display_name, record.company, record.contact_email, record.notes
        ),
    }


def _client_record(row: sa.Row[Any]) -> ClientRecord:
    data = row._mapping
    return ClientRecord(
        id=data["id"],
        owner=data["owner"],
        display_name=data["display_name"],
        contact_email=data["contact_email"],
        company=data["company"],
        phone=data["phone"],
        notes=data["notes"],
        create_time=utc(data["create_time"]),
        update_time=utc(data["update_time"]),
        project_count=int(data["project_count"]),
    )


def _project_row(record: ProjectRecord) -> dict[str, Any]:
    values = asdict(record)
    del values["tags"]
    return values | {
        "title_key": fold(record.title),
        "search_text": search_text(record.title, record.description, *record.tags),
    }


def _project_record(row: sa.Row[Any], tags: tuple[str, ...]) -> ProjectRecord:
    data = dict(row._mapping)
    for derived in ("title_key", "search_text"):
        del data[derived]
    complete = data.pop("complete_time")
    return ProjectRecord(
        **data | {"create_time": utc(data["create_time"]), "update_time": utc(data["update_time"])},
        complete_time=None if complete is None else utc(complete),
        tags=tags,
    )
