"""What the tables of filed audio share (voice samples, text entries): one row per file, each
row its owner's, read by id, paged newest first, and removed with the path of its file handed
back, so the caller deletes the file after the row and neither outlives the other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.speech.records import page_rows
from voka import pagination
from voka.pagination import Listing, Page

Record = TypeVar("Record", bound=pagination.Identified)


class Filter(Protocol):
    """A List's filters as SQL conditions."""

    def where(self) -> list[sa.ColumnElement[bool]]: ...


class FiledRows(Generic[Record]):
    """A table with `id`, `owner` and `path` columns, through the service's session factory."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: sa.Table,
        order: pagination.Order[Record],
        from_row: Callable[[sa.Row[Any]], Record],
    ) -> None:
        self._sessions = sessions
        self._table = table
        self._order = order
        self._from_row = from_row

    async def get(self, record_id: str) -> Record | None:
        select = sa.select(self._table).where(self._table.c.id == record_id)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        return None if row is None else self._from_row(row)

    async def page(self, matching: Filter, page: Page) -> Listing[Record]:
        """A page newest first, whether more follow, and the total matching."""
        async with self._sessions() as session:
            rows, total, more = await page_rows(
                session, self._table, self._order, matching.where(), page
            )
        return Listing([self._from_row(r) for r in rows], more, total)

    async def delete(self, record_id: str) -> str | None:
        """Remove the row; its file's path, or None when it was gone."""
        paths = await self._delete_where(self._table.c.id == record_id)
        return paths[0] if paths else None

    async def erase_owner(self, owner: str) -> list[str]:
        """Remove every row of `owner`; their files' paths."""
        return await self._delete_where(self._table.c.owner == owner)

    async def _delete_where(self, condition: sa.ColumnElement[bool]) -> list[str]:
        statement = sa.delete(self._table).where(condition).returning(self._table.c.path)
        async with self._sessions() as session, session.begin():
            return list((await session.execute(statement)).scalars())
