"""Async completions over real NATS JetStream: queued, answered by the service's consumer,
followed with Watch, cancelled, and answered after the service restarts."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest

from services.assistant.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc
from voka.server import Running, start

FINAL = {
    assistant_pb2.COMPLETION_STATE_SUCCEEDED,
    assistant_pb2.COMPLETION_STATE_FAILED,
    assistant_pb2.COMPLETION_STATE_CANCELLED,
}


async def started(tokens: TokenFactory, nats: NatsServer, data: Path, db: str,
                  workers: int) -> Running:  # fmt: skip
    settings = assistant_settings(tokens, nats, data, db, assistant_completion_workers=workers)
    return await start(SPEC, settings)


async def client(running: Running, metadata: object) -> tuple[grpc.aio.Channel, User]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    return channel, User(assistant_pb2_grpc.AssistantServiceStub(channel), metadata)


async def watch_to_end(user: User, name: str) -> list[assistant_pb2.Completion]:
    call = user.WatchCompletion(assistant_pb2.WatchCompletionRequest(name=name), timeout=60)
    return [m.completion async for m in call]


@pytest.fixture
def metadata(tokens: TokenFactory) -> object:
    return tokens.metadata(subject=f"users/carol-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


async def test_a_completion_queued_before_a_restart_is_answered_after_it(
    tokens: TokenFactory, nats: NatsServer, assistant_db: str, data: Path, metadata: object
) -> None:
    idle = await started(tokens, nats, data, assistant_db, workers=0)
    channel, user = await client(idle, metadata)
    queued = (await user.CreateCompletion(assistant_pb2.CreateCompletionRequest(
        completion=assistant_pb2.Completion(prompt="Name a colour.")))).completion  # fmt: skip
    assert queued.state == assistant_pb2.COMPLETION_STATE_QUEUED
    assert queued.model
    cancel_me = (await user.CreateCompletion(assistant_pb2.CreateCompletionRequest(
        completion=assistant_pb2.Completion(prompt="Never mind.")))).completion  # fmt: skip
    cancelled = await user.CancelCompletion(assistant_pb2.CancelCompletionRequest(
        name=cancel_me.name, reason="changed my mind"))  # fmt: skip
    assert cancelled.completion.state == assistant_pb2.COMPLETION_STATE_CANCELLED
    assert cancelled.completion.error.message == "changed my mind"
    await channel.close()
    await idle.stop()

    worker = await started(tokens, nats, data, assistant_db, workers=1)
    channel, user = await client(worker, metadata)
    try:
        changes = await watch_to_end(user, queued.name)
        done = changes[-1]
        assert done.state == assistant_pb2.COMPLETION_STATE_SUCCEEDED, done.error
        assert done.output_text
        assert done.usage.output_tokens > 0
        assert done.attempts == 1
        assert next(c.state for c in changes) in (
            assistant_pb2.COMPLETION_STATE_QUEUED,
            assistant_pb2.COMPLETION_STATE_RUNNING,
            assistant_pb2.COMPLETION_STATE_SUCCEEDED,
        )
        again = await user.GetCompletion(assistant_pb2.GetCompletionRequest(name=cancel_me.name))
        assert again.completion.state == assistant_pb2.COMPLETION_STATE_CANCELLED
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await user.CancelCompletion(assistant_pb2.CancelCompletionRequest(name=queued.name))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        listed = await user.ListCompletions(assistant_pb2.ListCompletionsRequest(page_size=1))
        assert listed.total_size == 2
        assert listed.next_page_token
        assert listed.completions[0].name == cancel_me.name
    finally:
        await channel.close()
        await worker.stop()


async def test_completion_in_a_conversation_is_stored_as_a_turn_and_is_private(
    tokens: TokenFactory, nats: NatsServer, assistant_db: str, data: Path, metadata: object
) -> None:
    running = await started(tokens, nats, data, assistant_db, workers=1)
    channel, user = await client(running, metadata)
    _, stranger = await client(running, tokens.metadata(subject="users/mallory"))
    try:
        made = await user.CreateConversation(assistant_pb2.CreateConversationRequest(
            conversation=assistant_pb2.Conversation(display_name="async")))  # fmt: skip
        job = (await user.CreateCompletion(assistant_pb2.CreateCompletionRequest(
            completion=assistant_pb2.Completion(prompt="Hi!", conversation=made.conversation.name),
            request_id="once"))).completion  # fmt: skip
        same = await user.CreateCompletion(assistant_pb2.CreateCompletionRequest(
            completion=assistant_pb2.Completion(prompt="Hi!", conversation=made.conversation.name),
            request_id="once"))  # fmt: skip
        assert same.completion.name == job.name
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stranger.GetCompletion(assistant_pb2.GetCompletionRequest(name=job.name))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        done = (await watch_to_end(user, job.name))[-1]
        assert done.state == assistant_pb2.COMPLETION_STATE_SUCCEEDED
        got = await user.GetConversation(
            assistant_pb2.GetConversationRequest(name=made.conversation.name)
        )
        assert next(m.content for m in got.conversation.messages) == "Hi!"
        assert got.conversation.messages[-1].name == done.reply_message
    finally:
        await channel.close()
        await running.stop()


async def test_history_beyond_the_token_budget_is_dropped_oldest_first(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = tmp_path_factory.mktemp("budget")
    budget = 160
    settings = assistant_settings(tokens, nats, data, f"sqlite:///{data / 'a.db'}",
                                  assistant_context_tokens=budget)  # fmt: skip
    running = await start(SPEC, settings)
    channel, user = await client(running, tokens.metadata(subject="users/frank"))
    try:
        replies, name = [], ""
        for i in range(5):
            ask = assistant_pb2.ProcessMessageRequest(
                message=f"Fact number {i}: the sky is blue today.", conversation=name
            )
            reply = await user.ProcessMessage(ask)
            name = reply.conversation
            replies.append(reply.reply.usage)
    finally:
        await channel.close()
        await running.stop()
    inputs = [u.input_tokens for u in replies]
    # Each kept turn adds its user message and reply to the next prompt; once the budget is
    # reached the oldest turn goes for every new one, and the prompt stops growing.
    assert inputs[1] - inputs[0] >= 20, inputs
    assert inputs[-1] - inputs[-2] < inputs[1] - inputs[0], inputs
    assert max(inputs) <= budget * 1.25, inputs  # the chat template's tokens on top
