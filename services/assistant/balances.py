"""Which hemisphere balance is in force: the request's override, else the conversation's,
else the user's, else the one the user's profile learned, else the service's default; and
setting a user's or a conversation's."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from services.assistant.balance_store import BalanceStore
from services.assistant.conversation_store import ConversationStore
from services.assistant.hemisphere import (
    CONVERSATION,
    DEFAULT,
    PROFILE,
    REQUEST,
    USER,
    Balance,
    InForce,
)
from services.assistant.profile.profiles import Profiles
from services.assistant.records import ConversationRecord


class Balances:
    """Resolves and sets balances against the stores."""

    def __init__(
        self,
        users: BalanceStore,
        conversations: ConversationStore,
        profiles: Profiles,
        default: Balance,
    ) -> None:
        self._users = users
        self._conversations = conversations
        self._profiles = profiles
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
        users = await self._users.get(owner)
        if users is not None:
            return InForce(users[0], USER, users[1])
        learned = await self._profiles.learned_balance(owner)
        if learned is not None:
            return InForce(learned[0], PROFILE, learned[1])
        return InForce(self.default, DEFAULT)

    async def set(
        self, owner: str, conversation: ConversationRecord | None, balance: Balance | None
    ) -> None:
        """The conversation's balance when one is given, else the user's; None removes it."""
        now = datetime.now(UTC)
        if conversation is None:
            await self._users.set(owner, balance, now)
            return
        changed = dataclasses.replace(
            conversation,
            technical=None if balance is None else balance.technical,
            emotional=None if balance is None else balance.emotional,
            hemisphere_time=None if balance is None else now,
            update_time=now,
        )
        await self._conversations.update(changed)
