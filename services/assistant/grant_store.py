"""The MCP tools an admin granted each user (issue 15, item 10): one row per user with a
non-empty allow-list. No row means no tools, so revoking deletes the row and a user nobody
granted anything has nothing to find."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.records import McpGrantRecord, mcp_grants, upsert
from voka.wellknown import utc


class GrantStore:
    """`assistant_mcp_grants`, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, owner: str) -> McpGrantRecord | None:
        """The user's grant; None when they have none."""
        select = sa.select(mcp_grants).where(mcp_grants.c.owner == owner)
        async with self._sessions() as session:
            row = (await session.execute(select)).first()
        if row is None:
            return None
        return McpGrantRecord(owner, tuple(json.loads(row.allowed_tools)), utc(row.update_time))

    async def set(
        self, owner: str, allowed_tools: Sequence[str], now: datetime
    ) -> McpGrantRecord | None:
        """Grant the user these tools (replacing what they had), or revoke them all (empty)."""
        async with self._sessions() as session, session.begin():
            if not allowed_tools:
                await session.execute(mcp_grants.delete().where(mcp_grants.c.owner == owner))
                return None
            values = {"owner": owner, "allowed_tools": json.dumps(list(allowed_tools)),
                      "update_time": now}  # fmt: skip
            await session.execute(upsert(session, mcp_grants, values))
        return McpGrantRecord(owner, tuple(allowed_tools), now)
