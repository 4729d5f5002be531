"""No assistant RPC holds the event loop longer than 50 ms (issue 16, item 3): the model
catalogue (Voka's and OpenAI's), the status, conversations (written, listed), a completion
(queued, answered by the local model in its thread, watched to the end), embeddings and the
kit's RPCs. On SQLite only: the loop's behaviour does not depend on the database's driver."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import grpc
import pytest

from services.assistant.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import assistant_settings
from tests.services.loop_lag import Phase, assert_loop_free
from tools.processes import NatsServer
from voka.assistant.v1 import (
    assistant_pb2,
    assistant_pb2_grpc,
    embeddings_pb2,
    embeddings_pb2_grpc,
    openai_pb2,
    openai_pb2_grpc,
)
from voka.server import Running, start


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """On SQLite, the per-user rate limit lifted (the phases call as one user)."""
    data = tmp_path_factory.mktemp("data")
    database = f"sqlite:///{data / 'assistant.db'}"
    settings = assistant_settings(tokens, nats, data, database, rate_limit_per_second=0)
    running = await start(SPEC, settings)
    yield running
    await running.stop()


async def test_no_assistant_rpc_holds_the_event_loop(
    service: Running, stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory
) -> None:
    me = tokens.metadata(subject="users/loop-lag")
    admin = tokens.metadata(subject="users/loop-lag-admin", roles=("admin",))
    numbers = itertools.count()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        openai = openai_pb2_grpc.OpenAiServiceStub(channel)
        embeddings = embeddings_pb2_grpc.EmbeddingServiceStub(channel)

        async def answered() -> None:
            request = assistant_pb2.CreateCompletionRequest(
                completion=assistant_pb2.Completion(prompt="Name a colour.")
            )
            made = (await stub.CreateCompletion(request, metadata=me)).completion
            watch = assistant_pb2.WatchCompletionRequest(name=made.name)
            async for _ in stub.WatchCompletion(watch, metadata=me):
                pass

        phases = [
            Phase("ListModels", lambda: stub.ListModels(assistant_pb2.ListModelsRequest())),
            Phase("ListOpenAiModels", lambda: openai.ListOpenAiModels(
                openai_pb2.ListOpenAiModelsRequest(), metadata=me)),
            Phase("GetStatus", lambda: stub.GetStatus(
                assistant_pb2.GetStatusRequest(), metadata=me)),
            Phase("ListMcpServers", lambda: stub.ListMcpServers(
                assistant_pb2.ListMcpServersRequest(), metadata=me)),
            Phase("GetHemisphereBalance", lambda: stub.GetHemisphereBalance(
                assistant_pb2.GetHemisphereBalanceRequest(), metadata=me)),
            Phase("CreateConversation", lambda: stub.CreateConversation(
                assistant_pb2.CreateConversationRequest(conversation=assistant_pb2.Conversation(
                    display_name=f"chat {next(numbers)}")), metadata=me)),
            Phase("ListConversations", lambda: stub.ListConversations(
                assistant_pb2.ListConversationsRequest(), metadata=me)),
            Phase("CreateCompletion then WatchCompletion", answered, calls=3, in_flight=3),
            Phase("ListCompletions", lambda: stub.ListCompletions(
                assistant_pb2.ListCompletionsRequest(), metadata=me)),
            Phase("EmbedTexts", lambda: embeddings.EmbedTexts(embeddings_pb2.EmbedTextsRequest(
                texts=[f"sentence {next(numbers)}"]), metadata=me), calls=8, in_flight=4),
        ]  # fmt: skip
        await assert_loop_free("assistant", service.port, admin, phases)
