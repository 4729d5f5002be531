"""Which hemisphere balance is in force: the request's override, else the conversation's,
else the user's, else the service's default."""

from __future__ import annotations

from services.assistant.hemisphere import (
    CONVERSATION,
    DEFAULT,
    REQUEST,
    USER,
    Balance,
    InForce,
)
from services.assistant.records import ConversationRecord
from services.assistant.store import Store


class Balances:
    """Resolves balances against the store."""

    def __init__(self, store: Store, default: Balance) -> None:
        self._store = store
        self.default = default

    async def in_force(
        self,
        owner: str,
        conversation: ConversationRecord | None = None,
        override: Balance | None = None,
    ) -> InForce:
        if override is not None:
            return InForce(override, REQUEST)
        if conversation is not None and conversation.technical is not None:
            own = Balance(conversation.technical, conversation.emotional or 0.0)
            return InForce(own, CONVERSATION, conversation.hemisphere_time)
        users = await self._store.balance(owner)
        if users is not None:
            return InForce(users[0], USER, users[1])
        return InForce(self.default, DEFAULT)
