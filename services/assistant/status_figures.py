"""The stored part of GetStatus: the caller's balance in force and the queued completions, kept
between calls (`voka.snapshots`) instead of read three times per call.

A figure read less than `MAX_AGE` ago answers again unless a transaction of this process
committed since (a balance set, a rating learned, a completion queued or moved): the caller
sees its own change at once, as before, and another replica's within `MAX_AGE`. Balances are
kept for the `CALLERS` most recent callers.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from services.assistant.balances import Balances
from services.assistant.completion_store import CompletionStore
from services.assistant.hemisphere import InForce
from services.assistant.records import ConversationRecord
from voka.assistant.v1 import assistant_pb2
from voka.snapshots import Commits, Kept, KeptPerKey

MAX_AGE = 1.0  # seconds a figure answers for, at most
CALLERS = 1024  # callers whose balance is kept


class StatusFigures:
    """`in_force(owner, conversation)` and `queued()` as GetStatus shows them."""

    def __init__(
        self, engine: AsyncEngine, balances: Balances, completions: CompletionStore
    ) -> None:
        self._commits = Commits(engine)
        self._balances = balances
        self._completions = completions
        self._by_owner: KeptPerKey[str, InForce] = KeptPerKey(MAX_AGE, CALLERS)
        self._queued: Kept[int] = Kept(MAX_AGE)

    async def in_force(self, owner: str, conversation: ConversationRecord | None) -> InForce:
        """The balance in force; a conversation's own needs no read, and one without its own
        has its owner's (the user's, else the learned one, else the default)."""
        if conversation is not None and conversation.technical is not None:
            return await self._balances.in_force(owner, conversation)
        read = lambda: self._balances.in_force(owner)  # noqa: E731 - read only when not kept
        return await self._by_owner.get(owner, self._commits.count, read)

    async def queued(self) -> int:
        """Completions waiting for a worker, across the service."""
        state = assistant_pb2.COMPLETION_STATE_QUEUED
        return await self._queued.get(
            self._commits.count, lambda: self._completions.count(None, state)
        )
