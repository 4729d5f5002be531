"""A transcription worker killed mid-job (SIGKILL, no goodbye): JetStream redelivers the job
once its ack deadline passes, another worker process finishes it, and the job counts two
attempts. Service and workers share a PostgreSQL database, as they would in production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from services.speech.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import Clip, service_settings
from tests.services.speech.rpc import long_wav, upload, wait_final, wait_state
from tests.services.speech.wer import wer
from tools.processes import NatsServer
from voka.server import Running, start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def stub(
    tokens: TokenFactory, nats: NatsServer, models_dir: Path, data_dir: Path, postgres_url: str
) -> AsyncIterator[speech_pb2_grpc.SpeechServiceStub]:
    settings = service_settings(
        tokens, nats.url, models_dir, data_dir, database_url=postgres_url,
        speech_embedded_worker=False,
    )  # fmt: skip
    running: Running = await start(SPEC, settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield speech_pb2_grpc.SpeechServiceStub(channel)
    await running.stop()


@pytest.fixture
def spawn_worker(
    nats: NatsServer, models_dir: Path, data_dir: Path, postgres_url: str
) -> Iterator[object]:
    """Starts `python -m services.speech.worker` processes; kills what is left at the end."""
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", "VOKA_DATA_DIR": str(data_dir),
        "VOKA_NATS_URL": nats.url, "VOKA_DATABASE_URL": postgres_url,
        "VOKA_SPEECH_MODELS_DIR": str(models_dir), "VOKA_SPEECH_DEFAULT_MODEL": "tiny.en",
        "VOKA_SPEECH_INSTALL_DEFAULT_MODELS": "false", "VOKA_SPEECH_JOB_ACK_SECONDS": "3",
    }  # fmt: skip

    def spawn() -> subprocess.Popen[bytes]:
        log = (data_dir.parent / f"worker-{len(started)}.log").open("wb")
        process = subprocess.Popen([sys.executable, "-m", "services.speech.worker"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_a_killed_workers_job_is_finished_by_another(
    stub, spawn_worker, tokens: TokenFactory, piper_clip: Clip, piper_clip_2: Clip
):
    me = tokens.metadata(subject="users/alice")
    first = spawn_worker()  # type: ignore[operator]
    audio = long_wav(piper_clip.audio.samples, piper_clip_2.audio.samples, times=4)
    job = (await stub.CreateTranscription(upload(audio), metadata=me)).transcription
    # The worker imports, connects, loads the model, then starts the job: kill it then.
    await wait_state(stub, job.name, me, speech_pb2.TRANSCRIPTION_STATE_RUNNING)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    spawn_worker()  # type: ignore[operator]
    final = await wait_final(stub, job.name, me, seconds=90)
    assert final.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED, final.error
    assert final.attempts == 2
    assert wer(f"{piper_clip.text} {piper_clip_2.text} " * 4, final.result.text) <= 0.1
