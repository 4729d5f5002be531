"""Writes by one user at the same time all succeed (issue 15, item 2), on SQLite and on
PostgreSQL: 60 concurrent conversation creations and updates, 60 hemisphere-balance settings."""

from __future__ import annotations

from tests.services.assistant.conftest import User
from tests.services.concurrency import failures
from voka.assistant.v1 import assistant_pb2

WRITES = 60


async def _create(user: User, title: str) -> str:
    conversation = assistant_pb2.Conversation(display_name=title)
    made = await user.CreateConversation(
        assistant_pb2.CreateConversationRequest(conversation=conversation)
    )
    return str(made.conversation.name)


async def test_sixty_concurrent_conversation_writes_all_succeed(alice: User) -> None:
    existing = [await _create(alice, f"old {n}") for n in range(WRITES // 2)]

    async def write(n: int) -> object:
        if n % 2:
            return await _create(alice, f"new {n}")
        renamed = assistant_pb2.Conversation(name=existing[n // 2], display_name=f"renamed {n}")
        return await alice.UpdateConversation(
            assistant_pb2.UpdateConversationRequest(conversation=renamed)
        )

    assert await failures(write(n) for n in range(WRITES)) == []
    listed = await alice.ListConversations(assistant_pb2.ListConversationsRequest(page_size=100))
    assert sorted(c.display_name for c in listed.conversations) == sorted(
        [f"new {n}" for n in range(1, WRITES, 2)] + [f"renamed {n}" for n in range(0, WRITES, 2)]
    )


async def test_sixty_concurrent_balance_settings_all_succeed(alice: User) -> None:
    """The user's balance is upserted: a DELETE then an INSERT, as it was, let two settings at
    once on PostgreSQL both find no row, and the second INSERT broke the primary key."""

    def balance(n: int) -> assistant_pb2.SetHemisphereBalanceRequest:
        given = assistant_pb2.HemisphereBalance(technical=n / WRITES, emotional=1 - n / WRITES)
        return assistant_pb2.SetHemisphereBalanceRequest(balance=given)

    assert await failures(alice.SetHemisphereBalance(balance(n)) for n in range(WRITES)) == []
    got = await alice.GetHemisphereBalance(assistant_pb2.GetHemisphereBalanceRequest())
    assert got.source == assistant_pb2.HEMISPHERE_SOURCE_USER
    assert round(got.balance.technical * WRITES) in range(WRITES)  # one of them won
