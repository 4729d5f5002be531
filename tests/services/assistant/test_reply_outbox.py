"""A reply's `reply.completed` event is not lost when NATS is down as the reply is stored, even
if the service stops before NATS is back: it was written with the reply (`voka.outbox`), and
the relay publishes it once NATS takes it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from services.assistant.service import SPEC
from tests.fixtures.events import published
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import User, assistant_settings
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2, assistant_pb2_grpc, events_pb2
from voka.server import start


async def test_a_reply_stored_while_nats_is_down_is_announced_after_it_returns(
    tokens: TokenFactory, nats_server: NatsServer, assistant_db: str, tmp_path: Path
) -> None:
    settings = assistant_settings(tokens, nats_server, tmp_path / "data", assistant_db)
    user_metadata = tokens.metadata(subject="users/nadia")
    running = await start(SPEC, settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        user = User(assistant_pb2_grpc.AssistantServiceStub(channel), user_metadata)
        await asyncio.to_thread(nats_server.stop)  # off the loop, so the client sees it go
        reply = await user.ProcessMessage(assistant_pb2.ProcessMessageRequest(message="Hi."))
    finally:
        await channel.close()
        # The process goes before NATS is back: nothing it held in memory survives.
        await running.stop()
    await asyncio.to_thread(nats_server.start)
    async with published(nats_server.url, events_pb2.ReplyCompletedEvent) as announced:
        running = await start(SPEC, settings)
        try:
            await announced.until(
                lambda seen: any(e.reply_message == reply.reply.name for e in seen), seconds=30
            )
        finally:
            await running.stop()
    [event] = [e for e in announced.events if e.reply_message == reply.reply.name]
    assert event.conversation == reply.conversation
    assert event.channel == events_pb2.REPLY_CHANNEL_PROCESS
