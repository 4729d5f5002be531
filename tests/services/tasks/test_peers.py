"""Work a user submits keeps the user's name when the tasks service calls a peer for it: the
call carries the tasks service's own token (the actor) and `voka-on-behalf-of` with the task's
owner (the subject), so the peer's per-caller limits count the user, not the service.
A fake translate service, served by the kit with a rate limit of one call per user, records what
each call carried and whom the kit took for the caller."""

from __future__ import annotations

import time
import uuid
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
from voka import authn
from voka.config import Settings
from voka.server import ServiceSpec, single, start
from voka.service_identity import ServiceIdentity
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc
from voka.translate.v1 import translate_pb2, translate_pb2_grpc


class FakeTranslate(translate_pb2_grpc.TranslateServiceServicer):
    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], authn.Identity]] = []

    async def TranslateText(
        self, request: translate_pb2.TranslateTextRequest, context: Any
    ) -> translate_pb2.TranslateTextResponse:
        metadata = {m.key: m.value for m in context.invocation_metadata()}
        self.calls.append((metadata, authn.caller()))
        return translate_pb2.TranslateTextResponse(
            translated_text=request.text.upper(), source_language_code="en",
            target_language_code=request.target_language_code,
        )  # fmt: skip


@pytest.fixture(scope="module")
async def translate(
    tokens: TokenFactory, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[FakeTranslate, int]]:
    """The fake behind the kit's hooks; each user's bucket holds one call and takes hours to
    refill."""
    fake = FakeTranslate()
    settings = Settings(service="translate", port=0, metrics_port=0,
                        data_dir=tmp_path_factory.mktemp("translate"), jwks_file=tokens.jwks_file,
                        rate_limit_per_second=0.0001, rate_limit_burst=1)  # fmt: skip
    running = await start(ServiceSpec("translate", single(lambda _: fake), bus=False), settings)
    yield fake, running.port
    await running.stop()


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
    fake.calls.clear()
    me = tokens.metadata(subject="users/ana")
    task = await _translated(stub, me)
    assert task.state == tasks_pb2.TASK_STATE_SUCCEEDED, task.last_error
    assert task.result.struct_value["translated_text"] == "HELLO"
    [(metadata, caller)] = fake.calls
    assert metadata.get("voka-on-behalf-of") == "users/ana"  # the subject the peer limits
    assert metadata["authorization"].startswith("Bearer ")  # the actor: the tasks service's token
    assert metadata["authorization"] != me[0][1]  # never the user's own token
    assert (caller.subject, caller.actor) == ("users/ana", "services/tasks")
    assert not caller.is_service
    assert not caller.is_admin


async def test_a_task_call_counts_against_its_owner_at_a_rate_limited_peer(
    stub, tokens: TokenFactory, translate: tuple[FakeTranslate, int]
):
    _, port = translate
    owner, other = f"users/al-{uuid.uuid4().hex[:8]}", f"users/bo-{uuid.uuid4().hex[:8]}"
    task = await _translated(stub, tokens.metadata(subject=owner))
    assert task.state == tasks_pb2.TASK_STATE_SUCCEEDED, task.last_error
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        peer = translate_pb2_grpc.TranslateServiceStub(channel)
        request = translate_pb2.TranslateTextRequest(text="hi", target_language_code="es")
        with pytest.raises(grpc.aio.AioRpcError) as limited:  # the task spent the owner's call
            await peer.TranslateText(request, metadata=tokens.metadata(subject=owner))
        assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert owner in (limited.value.details() or "")
        await peer.TranslateText(request, metadata=tokens.metadata(subject=other))  # not other's


async def _translated(
    stub: tasks_pb2_grpc.TasksServiceStub, metadata: tuple[tuple[str, str]]
) -> tasks_pb2.Task:
    """A translate.text task of the caller of `metadata`, run to its end."""
    args = struct_pb2.Struct()
    args.update({"text": "hello", "target_language_code": "es"})
    reply = await stub.SubmitTask(
        tasks_pb2.SubmitTaskRequest(function_name="translate.text", args=args), metadata=metadata
    )
    return await wait_final(stub, reply.name, metadata)
