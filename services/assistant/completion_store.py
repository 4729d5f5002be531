"""Async completion jobs. State changes are conditional on the state they leave, so a
redelivered or raced job changes nothing; an (owner, request id) pair names one job for 24
hours, so a retried CreateCompletion gets the job it already made."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.records import completions, newest_first
from voka.assistant.v1 import assistant_pb2

Mutation = Callable[[assistant_pb2.Completion], None]


class CompletionStore:
    """`assistant_completions`, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(
        self, completion: assistant_pb2.Completion, request_id: str | None
    ) -> tuple[assistant_pb2.Completion, bool]:
        """Insert a QUEUED completion; with a known (owner, request id) of the last 24 hours,
        the earlier one and True instead."""
        row = {
            "id": completion.name.removeprefix("completions/"),
            "owner": completion.owner,
            "state": completion.state,
            "request_id": request_id,
            "body": completion.SerializeToString(),
            "create_time": completion.create_time.ToDatetime(UTC),
        }
        try:
            async with self._sessions() as session, session.begin():
                await session.execute(completions.insert().values(row))
            return completion, False
        except IntegrityError:
            known = await self._by_request(completion.owner, request_id or "")
            if known is None:
                raise
            return known, True

    async def _by_request(self, owner: str, request_id: str) -> assistant_pb2.Completion | None:
        select = sa.select(completions.c.body).where(
            completions.c.owner == owner, completions.c.request_id == request_id
        )
        async with self._sessions() as session:
            body = (await session.execute(select)).scalar_one_or_none()
        return None if body is None else assistant_pb2.Completion.FromString(body)

    async def get(self, completion_id: str) -> assistant_pb2.Completion | None:
        select = sa.select(completions.c.body).where(completions.c.id == completion_id)
        async with self._sessions() as session:
            body = (await session.execute(select)).scalar_one_or_none()
        return None if body is None else assistant_pb2.Completion.FromString(body)

    async def page(
        self, owner: str | None, state: int, after: tuple[datetime, str] | None, limit: int
    ) -> tuple[list[assistant_pb2.Completion], bool]:
        """Newest first, and whether more follow; `owner` None: every owner's."""
        select = sa.select(completions.c.body).where(*self._filters(owner, state))
        select = newest_first(select, completions, "create_time", after, limit)
        async with self._sessions() as session:
            bodies = (await session.execute(select)).scalars().all()
        found = [assistant_pb2.Completion.FromString(b) for b in bodies]
        return found[:limit], len(found) > limit

    async def count(self, owner: str | None, state: int) -> int:
        select = sa.select(sa.func.count()).select_from(completions)
        async with self._sessions() as session:
            found = await session.execute(select.where(*self._filters(owner, state)))
        return int(found.scalar_one())

    async def change(
        self, completion_id: str, states: Collection[int], mutate: Mutation
    ) -> assistant_pb2.Completion | None:
        """Apply `mutate` if the completion is in one of `states`; the result, or None when it
        was not (someone else moved it first)."""
        async with self._sessions() as session, session.begin():
            select = sa.select(completions.c.body, completions.c.state).where(
                completions.c.id == completion_id
            )
            row = (await session.execute(select)).first()
            if row is None or row.state not in states:
                return None
            completion = assistant_pb2.Completion.FromString(row.body)
            mutate(completion)
            update = (
                completions.update()
                .where(completions.c.id == completion_id, completions.c.state == row.state)
                .values(state=completion.state, body=completion.SerializeToString())
            )
            changed = await session.execute(update)
        return completion if changed.rowcount == 1 else None  # type: ignore[attr-defined]

    @staticmethod
    def _filters(owner: str | None, state: int) -> list[sa.ColumnElement[bool]]:
        filters: list[sa.ColumnElement[bool]] = []
        if owner is not None:
            filters.append(completions.c.owner == owner)
        if state:
            filters.append(completions.c.state == state)
        return filters
