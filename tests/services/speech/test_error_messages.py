"""What a refusal tells the caller: the right code and a message of its own, never a program's
error output or a path on the server (they tell an attacker how the host is laid out); those go
to the log, where the operator looks."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.rpc import code_pb2

from services.speech.models import ModelCatalogue, ct2_path, ggml_path
from services.speech.recognition import Recognition, RecognitionPool
from services.speech.service import SPEC
from services.speech.synthesis import Synthesis
from services.speech.tts.catalogue import VoiceCatalogue
from services.speech.tts.espeak import EspeakSynthesizer
from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import Clip, service_settings
from tests.services.speech.rpc import upload, wait_final
from tools.processes import NatsServer
from voka.errors import VokaError
from voka.server import start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

STDERR = "Error processing file '/usr/share/espeak-ng-data/phontab': No such file"

FAILING_ESPEAK = f"""#!/bin/sh
if [ "$1" = "--voices" ]; then
  echo "Pty Language       Age/Gender VoiceName          File                 Other Languages"
  echo " 5  en-us           --/M      English_(America)  gmw/en-US            (en 3)"
  exit 0
fi
echo "{STDERR}" >&2
exit 1
"""


def told(error: VokaError) -> str:
    """Everything the caller receives: the message and every detail."""
    return str(error.to_status())


async def test_a_failing_espeak_is_internal_without_its_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    binary = tmp_path / "espeak-ng"
    binary.write_text(FAILING_ESPEAK)
    binary.chmod(0o755)
    voices = VoiceCatalogue([EspeakSynthesizer(str(binary))])
    request = speech_pb2.SynthesizeSpeechRequest(text="Hello.", voice="voices/espeak-ng-en-us")
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(VokaError) as refused:
            await Synthesis(voices).speak(request)
    finally:
        voices.close()
    assert refused.value.code == grpc.StatusCode.INTERNAL
    assert "phontab" not in told(refused.value)
    assert "/" not in told(refused.value)
    assert STDERR in caplog.text  # the operator still learns why


def broken_ggml(root: Path) -> speech_pb2.RecognitionConfig:
    path = ggml_path(root, "broken")
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(4096))
    return speech_pb2.RecognitionConfig(
        engine=speech_pb2.RECOGNITION_ENGINE_WHISPER_CPP, model="broken"
    )


def incomplete_ct2(root: Path) -> speech_pb2.RecognitionConfig:
    directory = ct2_path(root, "incomplete")
    directory.mkdir(parents=True)
    (directory / "model.bin").write_bytes(os.urandom(4096))  # no config.json
    return speech_pb2.RecognitionConfig(
        engine=speech_pb2.RECOGNITION_ENGINE_FASTER_WHISPER, model="incomplete"
    )


def corrupt_ct2(root: Path) -> speech_pb2.RecognitionConfig:
    directory = ct2_path(root, "corrupt")
    directory.mkdir(parents=True)
    (directory / "model.bin").write_bytes(os.urandom(4096))
    (directory / "config.json").write_text("{}")
    return speech_pb2.RecognitionConfig(
        engine=speech_pb2.RECOGNITION_ENGINE_FASTER_WHISPER, model="corrupt"
    )


@pytest.mark.parametrize("install", [broken_ggml, incomplete_ct2, corrupt_ct2])
async def test_an_unusable_model_is_refused_without_its_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, install
) -> None:
    models_dir = tmp_path / "secret-models-dir"
    config = install(models_dir)
    recognition = Recognition(RecognitionPool(ModelCatalogue(models_dir), queue_size=1))
    try:
        with caplog.at_level(logging.WARNING), pytest.raises(VokaError) as refused:
            await recognition.transcript(np.zeros(16_000, dtype=np.float32), config)
    finally:
        recognition.pool.close()
    assert refused.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert config.model in refused.value.message  # which model, and what to do about it
    assert "python -m services.speech models" in refused.value.message
    assert "secret-models-dir" not in told(refused.value)
    assert "secret-models-dir" in caplog.text


@pytest.mark.integration
async def test_a_job_whose_upload_is_gone_fails_without_its_path(
    tokens: TokenFactory, nats: NatsServer, models_dir: Path, tmp_path: Path, piper_clip: Clip
) -> None:
    me = tokens.metadata(subject="users/alice")

    async def serve(*, worker: bool) -> speech_pb2.Transcription:
        settings = service_settings(tokens, nats.url, models_dir, tmp_path,
                                    speech_embedded_worker=worker)  # fmt: skip
        running = await start(SPEC, settings)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                stub = speech_pb2_grpc.SpeechServiceStub(channel)
                if not worker:
                    return (await stub.CreateTranscription(upload(piper_clip.wav),
                                                           metadata=me)).transcription  # fmt: skip
                return await wait_final(stub, job.name, me)
        finally:
            await running.stop()

    job = await serve(worker=False)  # stored and queued; no worker has seen it
    for stored in (tmp_path / "speech" / "uploads").iterdir():
        stored.unlink()
    final = await serve(worker=True)
    assert final.error.code == code_pb2.DATA_LOSS
    assert str(tmp_path) not in final.error.message
    assert "/" not in final.error.message
