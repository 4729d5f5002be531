"""One transaction at a time over the service's tables, with the store of every resource bound
to it: a request that reads a project, its meetings and its chat, or deletes a client with its
projects and meetings, does it all or nothing. The events a change causes are written in the
same transaction (the kit's outbox), so they are published exactly when the change commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.meetings.chat.search_store import SearchStore
from services.meetings.chat.store import ChatStore
from services.meetings.chat.vectors import VectorStore
from services.meetings.clients.store import ClientStore, ProjectStore
from services.meetings.contact.store import ContactStore
from services.meetings.meetings import audio_files
from services.meetings.meetings.store import MeetingStore, RecordingStore, SummaryStore
from voka.outbox import Outbox


@dataclass(frozen=True)
class Events:
    """The events of one transaction, written to the kit's outbox (`voka.outbox`) with its
    changes: the relay publishes them once the transaction commits, however long NATS is
    away, and never when it rolls back. Where the service runs without NATS (`outbox` None:
    tests of the plain CRUD) nobody could listen, and none is kept."""

    session: AsyncSession
    outbox: Outbox | None

    async def add(self, message: Message, event_id: str) -> None:
        if self.outbox is not None:
            await self.outbox.add(self.session, message, event_id=event_id)


@dataclass(frozen=True)
class Stores:
    """The stores of one transaction."""

    clients: ClientStore
    projects: ProjectStore
    meetings: MeetingStore
    recordings: RecordingStore
    summaries: SummaryStore
    chat: ChatStore
    search: SearchStore
    contact: ContactStore
    events: Events
    vectors: VectorStore

    @classmethod
    def of(cls, session: AsyncSession, outbox: Outbox | None) -> Stores:
        """The stores working in `session`'s transaction (one the transactional inbox began,
        for instance), its events going to `outbox`."""
        return cls(
            ClientStore(session), ProjectStore(session), MeetingStore(session),
            RecordingStore(session), SummaryStore(session), ChatStore(session),
            SearchStore(session), ContactStore(session), Events(session, outbox),
            VectorStore(session),
        )  # fmt: skip


class Database:
    """Transactions on the service's session factory; their events go to `outbox`."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox | None = None
    ) -> None:
        self._sessions = sessions
        self.outbox = outbox

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Stores]:
        """Committed when the block ends, rolled back when it raises."""
        async with self._sessions() as session, session.begin():
            yield Stores.of(session, self.outbox)

    async def erase(self, owner: str) -> int:
        """Everything of `owner`, for account erasure: the meetings they organized and those
        of their projects (with all under them, and their recording files once committed),
        their projects and their clients. How many meetings, projects and clients went."""
        async with self.transaction() as stores:
            removed, paths = await stores.meetings.erase(owner)
            removed += await stores.projects.erase(owner)
            removed += await stores.clients.erase(owner)
        await audio_files.remove(*paths)
        return removed
