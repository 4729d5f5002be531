"""Work a user submits keeps the user's name when the tasks service calls a peer for it: the
call carries the tasks service's own token (the actor) and `voka-on-behalf-of` with the task's
owner (the subject), so the peer's per-caller limits can count the user, not the service.
A fake translate service records what each call carried."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.protobuf import struct_pb2

from services.tasks import peers
from services.tasks.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.conftest import in_process, wait_final
from tools.processes import NatsServer
from voka.server import start
from voka.service_identity import ServiceIdentity
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from voka.translate.v1 import translate_pb2, translate_pb2_grpc

T = tasks_pb2


class FakeTranslate(translate_pb2_grpc.TranslateServiceServicer):
    def __init__(self) -> None:
        self.calls: list[dict[str, str]] = []

    async def TranslateText(
        self, request: translate_pb2.TranslateTextRequest, context: Any
    ) -> translate_pb2.TranslateTextResponse:
        self.calls.append({m.key: m.value for m in context.invocation_metadata()})
        return translate_pb2.TranslateTextResponse(
            translated_text=request.text.upper(), source_language_code="en",
            target_language_code=request.target_language_code,
        )  # fmt: skip


@pytest.fixture(scope="module")
async def translate() -> AsyncIterator[tuple[FakeTranslate, int]]:
    server = grpc.aio.server()
    fake = FakeTranslate()
    translate_pb2_grpc.add_TranslateServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield fake, port
    await server.stop(None)


@pytest.fixture(scope="module")
async def stub(
    tokens: TokenFactory, nats: NatsServer, translate: tuple[FakeTranslate, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:  # fmt: skip
    settings = in_process(tokens, nats, tmp_path_factory.mktemp("tasks"),
                          tasks_embedded_workers=["NETWORK_INTENSIVE"],
                          addresses={"translate": f"127.0.0.1:{translate[1]}"})  # fmt: skip
    running = await start(SPEC, settings)
    service_token = tokens.mint(subject="services/tasks", roles=("service",), ttl=300)

    async def issue(service: str, secret: str) -> tuple[str, float]:
        return service_token, time.time() + 300

    peers.configure(peers.Peers(settings, ServiceIdentity("tasks", "test-only", issue)))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield tasks_pb2_grpc.TasksServiceStub(channel)
    await running.stop()


async def test_a_peer_call_names_the_user_as_subject_and_the_service_as_actor(
    stub, tokens: TokenFactory, translate: tuple[FakeTranslate, int]
):
    fake, _ = translate
    me = tokens.metadata(subject="users/ana")
    args = struct_pb2.Struct()
    args.update({"text": "hello", "target_language_code": "es"})
    reply = await stub.SubmitTask(T.SubmitTaskRequest(function_name="translate.text", args=args),
                                  metadata=me)  # fmt: skip
    task = await wait_final(stub, reply.name, me)
    assert task.state == T.TASK_STATE_SUCCEEDED, task.last_error
    assert task.result.struct_value["translated_text"] == "HELLO"
    [call] = fake.calls
    assert call.get("voka-on-behalf-of") == "users/ana"  # the subject the peer limits and audits
    assert call["authorization"].startswith("Bearer ")  # the actor: the tasks service's token
    assert call["authorization"] != me[0][1]  # never the user's own token
