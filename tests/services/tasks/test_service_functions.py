"""Task functions that call other services with the tasks service's own identity:
`translate.text` against the real translate service (Apertium), `speech.synthesize` against the
real speech service (espeak-ng); a refusal dead-letters at once."""

from __future__ import annotations

import base64
import io
import time
import wave
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import struct_pb2

from services.speech.service import SPEC as SPEECH
from services.speech.settings import SpeechSettings
from services.tasks import peers
from services.tasks.service import SPEC
from services.tasks.settings import TasksSettings
from services.translate.service import SPEC as TRANSLATE
from services.translate.settings import TranslateSettings
from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.conftest import wait_final
from tools.processes import NatsServer
from voka.server import Running, start
from voka.service_identity import ServiceIdentity
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def translate(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    settings = TranslateSettings(
        service="translate", port=0, data_dir=tmp_path_factory.mktemp("translate"),
        jwks_file=tokens.jwks_file, nats_url=nats.url,
        translate_models_dir=tmp_path_factory.mktemp("models"),
    )  # fmt: skip
    running = await start(TRANSLATE, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def speech(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """Synthesis needs no Whisper model: none is installed."""
    settings = SpeechSettings(
        service="speech", port=0, data_dir=tmp_path_factory.mktemp("speech"),
        jwks_file=tokens.jwks_file, nats_url=nats.url,
        speech_models_dir=tmp_path_factory.mktemp("speech-models"),
        speech_install_default_models=False,
    )  # fmt: skip
    running = await start(SPEECH, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(
    tokens: TokenFactory, nats: NatsServer, translate: Running, speech: Running,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:  # fmt: skip
    settings = TasksSettings(
        service="tasks", port=0, data_dir=tmp_path_factory.mktemp("tasks"),
        jwks_file=tokens.jwks_file, nats_url=nats.url, tasks_shards=2, tasks_tick_seconds=0.05,
        tasks_embedded_workers=["NETWORK_INTENSIVE"], rate_limit_per_second=0,
        addresses={"translate": f"127.0.0.1:{translate.port}",
                   "speech": f"127.0.0.1:{speech.port}"},
    )  # fmt: skip
    running = await start(SPEC, settings)

    async def issue(service: str, secret: str) -> tuple[str, float]:
        """What auth's IssueServiceToken answers (sub services/tasks, role service)."""
        token = tokens.mint(subject=f"services/{service}", roles=("service",), ttl=300)
        return token, time.time() + 300

    peers.configure(peers.Peers(settings, ServiceIdentity("tasks", "test-only", issue)))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield tasks_pb2_grpc.TasksServiceStub(channel)
    await running.stop()


def submit(function: str, **args: object) -> tasks_pb2.SubmitTaskRequest:
    struct = struct_pb2.Struct()
    struct.update(args)
    return tasks_pb2.SubmitTaskRequest(function_name=function, args=struct)


async def test_translate_text_calls_the_translate_service(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/ana")
    request = submit("translate.text", text="Hello, how are you?", source_language_code="en",
                     target_language_code="es")  # fmt: skip
    reply = await stub.SubmitTask(request, metadata=me)
    task = await wait_final(stub, reply.name, me, within=60)
    assert task.state == tasks_pb2.TASK_STATE_SUCCEEDED, task.last_error
    result = task.result.struct_value
    assert result["engine"] == "ENGINE_APERTIUM"
    assert result["model"] == "apertium eng-spa"
    assert "Hola" in result["translated_text"]


async def test_a_refused_translation_dead_letters_at_once(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/ana")
    request = submit("translate.text", text="Hello", target_language_code="xx")
    reply = await stub.SubmitTask(request, metadata=me)
    task = await wait_final(stub, reply.name, me, within=60)
    assert task.state == tasks_pb2.TASK_STATE_DEAD_LETTERED
    assert task.attempts == 1
    assert task.last_error.message.startswith("INVALID_ARGUMENT")


async def test_speech_synthesize_calls_the_speech_service(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/ana")
    reply = await stub.SubmitTask(submit("speech.synthesize", text="Hola, buenos días.",
                                         language="es"), metadata=me)  # fmt: skip
    task = await wait_final(stub, reply.name, me, within=60)
    assert task.state == tasks_pb2.TASK_STATE_SUCCEEDED, task.last_error
    result = task.result.struct_value
    assert result["content_type"] == "audio/wav"
    audio = base64.b64decode(result["audio_base64"])
    assert len(audio) == result["bytes"]
    with wave.open(io.BytesIO(audio)) as clip:
        seconds = clip.getnframes() / clip.getframerate()
    assert 0.5 < seconds < 5.0  # three words spoken, not silence and not a runaway
