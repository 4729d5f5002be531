"""A deleted account's conversations, messages, completions, hemisphere balance, MCP grant,
memories, profile and feedback go when auth announces the deletion on NATS; other users keep
theirs, and the event coming again changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from services.assistant.grant_store import GrantStore
from services.assistant.memory.records import memories
from services.assistant.profile.records import feedback, profiles
from services.assistant.records import balances, completions, conversations, mcp_grants, messages
from tests.fixtures.nats import announce_user_deleted, erasure_settled
from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tests.services.assistant.conftest import User
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.server import Running

GONE, STAYS = "users/gone-erasure", "users/stays-erasure"


async def keep(user: User, owner: str, service: Running) -> None:
    """A conversation with a turn, a finished completion, a balance, a grant, a memory (told in
    the turn), a profile and a rating of `owner`."""
    turn = await user.ProcessMessage(
        assistant_pb2.ProcessMessageRequest(message="My name is Kim. Say hello.")
    )
    await user.SubmitFeedback(assistant_pb2.SubmitFeedbackRequest(
        message=turn.reply.name, rating=assistant_pb2.FEEDBACK_RATING_THUMBS_UP))  # fmt: skip
    await user.SetHemisphereBalance(assistant_pb2.SetHemisphereBalanceRequest(
        balance=assistant_pb2.HemisphereBalance(technical=0.9, emotional=0.1)))  # fmt: skip
    completion = (await user.CreateCompletion(assistant_pb2.CreateCompletionRequest(
        completion=assistant_pb2.Completion(prompt="Name a colour.")))).completion  # fmt: skip
    assert service.resources.sessions is not None
    await GrantStore(service.resources.sessions).set(owner, ["calc"], datetime.now(UTC))

    async def done() -> bool:
        got = await user.GetCompletion(assistant_pb2.GetCompletionRequest(name=completion.name))
        return got.completion.state == assistant_pb2.COMPLETION_STATE_SUCCEEDED

    await eventually(done, within=60)


async def kept(service: Running, owner: str) -> list[int]:
    """How many rows of each assistant table belong to `owner`."""
    assert service.resources.sessions is not None
    theirs = sa.select(conversations.c.id).where(conversations.c.owner == owner)
    counts = [
        sa.select(sa.func.count()).where(messages.c.conversation_id.in_(theirs)),
        *(sa.select(sa.func.count()).select_from(table).where(table.c.owner == owner)
          for table in (conversations, completions, balances, mcp_grants, memories, profiles,
                        feedback)),
    ]  # fmt: skip
    async with service.resources.sessions() as session:
        return [int((await session.execute(count)).scalar_one()) for count in counts]


async def test_deleted_user_assistant_data_is_erased(
    stub: assistant_pb2_grpc.AssistantServiceStub, service: Running, tokens: TokenFactory,
    nats: NatsServer,
) -> None:  # fmt: skip
    for owner in (GONE, STAYS):
        await keep(User(stub, tokens.metadata(subject=owner)), owner, service)
    before = await kept(service, STAYS)
    assert before == [2, 1, 1, 1, 1, 1, 1, 1]  # a turn's two messages, then one of each

    await announce_user_deleted(nats.url, GONE)

    async def erased() -> bool:
        return await kept(service, GONE) == [0] * 8

    await eventually(erased)
    assert await kept(service, STAYS) == before

    await announce_user_deleted(nats.url, GONE)  # as a redelivery would
    await eventually(lambda: erasure_settled(service))
    assert await kept(service, STAYS) == before
    assert await kept(service, GONE) == [0] * 8
