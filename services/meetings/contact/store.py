"""The contact messages table and every query on it. Only admins reach these rows (the
contract's access rule), so no query is scoped to an owner.

A converted message names its client; deleting the client clears the link (ON DELETE SET NULL)
and keeps the message."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings.contact.records import ContactMessageRecord
from services.meetings.schema import metadata
from voka.pagination import Listing, Order, Page, fingerprint
from voka.wellknown import utc

# Mirrors migrations/versions/0005_contact_messages.py; the migration is what creates it.
contact_messages = sa.Table(
    "meetings_contact_messages",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("sender_name", sa.String(200), nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("body", sa.Text(), nullable=False),
    sa.Column("read", sa.Boolean(), nullable=False),
    sa.Column(
        "client_id",
        sa.String(32),
        sa.ForeignKey("meetings_clients.id", ondelete="SET NULL"),
        nullable=True,
    ),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

NEWEST_FIRST: Order[ContactMessageRecord] = Order(
    contact_messages.c.create_time, contact_messages.c.id, True, "datetime", lambda r: r.create_time
)


@dataclass(frozen=True)
class ContactQuery:
    """Filters of ListContactMessages: `read` None shows read and unread ones."""

    read: bool | None = None
    order_by: str = "create_time desc"  # the only order: newest first

    def fingerprint(self) -> str:
        return fingerprint("contact-messages", self.read)

    def where(self) -> list[Any]:
        return [] if self.read is None else [contact_messages.c.read == self.read]


class ContactStore:
    """Reads and writes of contact messages within one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, message_id: str, *, lock: bool = False) -> ContactMessageRecord | None:
        """The message; `lock` holds its row (PostgreSQL) until the transaction ends, so two
        conversions of one message cannot both make a client."""
        statement = sa.select(contact_messages).where(contact_messages.c.id == message_id)
        if lock:
            statement = statement.with_for_update()
        row = (await self._session.execute(statement)).first()
        return None if row is None else _record(row)

    async def add(self, record: ContactMessageRecord) -> None:
        await self._session.execute(sa.insert(contact_messages).values(asdict(record)))

    async def save(self, record: ContactMessageRecord) -> None:
        """The fields that change after arrival: read state and client link."""
        await self._session.execute(
            sa.update(contact_messages)
            .where(contact_messages.c.id == record.id)
            .values(read=record.read, client_id=record.client_id, update_time=record.update_time)
        )

    async def delete(self, message_id: str) -> bool:
        """Whether there was such a message."""
        gone = await self._session.execute(
            sa.delete(contact_messages).where(contact_messages.c.id == message_id)
        )
        return bool(gone.rowcount)  # type: ignore[attr-defined]

    async def listing(self, query: ContactQuery, page: Page) -> Listing[ContactMessageRecord]:
        """One page of the messages matching `query`, newest first."""
        where = query.where()
        after = [] if page.cursor is None else [NEWEST_FIRST.after(page.cursor)]
        statement = (
            sa.select(contact_messages)
            .where(*where, *after)
            .order_by(*NEWEST_FIRST.clauses())
            .limit(page.size + 1)
        )
        rows = (await self._session.execute(statement)).all()
        count = sa.select(sa.func.count()).select_from(contact_messages).where(*where)
        total = int((await self._session.execute(count)).scalar_one())
        items = [_record(row) for row in rows[: page.size]]
        return Listing(items, len(rows) > page.size, total)


def _record(row: sa.Row[Any]) -> ContactMessageRecord:
    """The row as a record: SQLite gives back naive times and 0/1 for booleans."""
    data = dict(row._mapping)
    times = {key: utc(data[key]) for key in ("create_time", "update_time")}
    return ContactMessageRecord(**data | times | {"read": bool(data["read"])})
