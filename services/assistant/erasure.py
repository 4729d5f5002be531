"""A deleted user's assistant data: their conversations with their messages, completions,
hemisphere balance, MCP grant, memories (rows and vectors, which live in the same rows),
profile and feedback, in one transaction (a store per table would take eight).

A reply or completion still running for the user finds its rows gone and stores nothing: an
append to a deleted conversation is refused (`MessageStore.append`), and a completion's outcome
changes no row (`CompletionStore.change`)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant.memory.records import memories
from services.assistant.profile.records import feedback, profiles
from services.assistant.records import balances, completions, conversations, mcp_grants, messages
from voka.erasure import Eraser


def eraser(sessions: async_sessionmaker[AsyncSession]) -> Eraser:
    """The eraser `voka.erasure` runs when auth announces an account's deletion."""

    async def erase(owner: str) -> int:
        owned = sa.select(conversations.c.id).where(conversations.c.owner == owner)
        statements = (  # messages first: SQLite enforces no ON DELETE CASCADE unless told to
            sa.delete(messages).where(messages.c.conversation_id.in_(owned)),
            *(sa.delete(table).where(table.c.owner == owner)
              for table in (conversations, completions, balances, mcp_grants, memories,
                            profiles, feedback)),
        )  # fmt: skip
        removed = 0
        async with sessions() as session, session.begin():
            for statement in statements:
                removed += (await session.execute(statement)).rowcount  # type: ignore[attr-defined]
        return removed

    return erase
