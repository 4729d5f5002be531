"""Users' own hemisphere balances (a conversation's lives in its row): one row per user, set
or removed as a whole."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.hemisphere import Balance
from services.assistant.records import balances, upsert
from voka.wellknown import utc


class BalanceStore:
    """`assistant_balances`, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, owner: str) -> tuple[Balance, datetime] | None:
        """The user's balance and when it was set; None when they never set one."""
        select = sa.select(balances).where(balances.c.owner == owner)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        if row is None:
            return None
        return Balance(row.technical, row.emotional), utc(row.update_time)

    async def set(self, owner: str, balance: Balance | None, now: datetime) -> None:
        """Set the user's balance (an upsert, so concurrent settings all succeed and the last
        one wins), or remove it (None)."""
        async with self._sessions() as session, session.begin():
            if balance is None:
                await session.execute(balances.delete().where(balances.c.owner == owner))
                return
            values = {"owner": owner, "technical": balance.technical,
                      "emotional": balance.emotional, "update_time": now}  # fmt: skip
            await session.execute(upsert(session, balances, values))
