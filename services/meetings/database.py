"""One transaction at a time over the service's tables, with the store of every resource bound
to it: a request that reads a project, its meetings and its chat, or deletes a client with its
projects and meetings, does it all or nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.meetings.chat.search_store import SearchStore
from services.meetings.chat.store import ChatStore
from services.meetings.clients.store import ClientStore, ProjectStore
from services.meetings.meetings import audio_files
from services.meetings.meetings.store import MeetingStore, RecordingStore, SummaryStore


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

    @classmethod
    def of(cls, session: AsyncSession) -> Stores:
        """The stores working in `session`'s transaction (one the transactional inbox began,
        for instance)."""
        return cls(
            ClientStore(session), ProjectStore(session), MeetingStore(session),
            RecordingStore(session), SummaryStore(session), ChatStore(session),
            SearchStore(session),
        )  # fmt: skip


class Database:
    """Transactions on the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Stores]:
        """Committed when the block ends, rolled back when it raises."""
        async with self._sessions() as session, session.begin():
            yield Stores.of(session)

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
