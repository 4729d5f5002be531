"""No speech RPC holds the event loop longer than 50 ms (issue 16, item 3): the voice and model
catalogues, a transcription (direct, and a job written, watched and listed), synthesis, voice
samples and the kit's RPCs. Recognition and synthesis run in worker threads; their models load
there too."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from google.api import httpbody_pb2

from services.speech.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.loop_lag import Phase, assert_loop_free
from tests.services.speech.conftest import Clip, service_settings
from tests.services.speech.rpc import upload, wav_claiming
from tools.processes import NatsServer
from voka.server import Running, start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    """The per-user rate limit lifted: the phases call as one user."""
    data = tmp_path_factory.mktemp("speech-data")
    settings = service_settings(tokens, nats.url, models_dir, data, rate_limit_per_second=0)
    running = await start(SPEC, settings)
    yield running
    await running.stop()


def transcribe(wav: bytes) -> speech_pb2.TranscribeRequest:
    return speech_pb2.TranscribeRequest(body=httpbody_pb2.HttpBody(data=wav))


async def test_no_speech_rpc_holds_the_event_loop(
    service: Running, stub: speech_pb2_grpc.SpeechServiceStub, tokens: TokenFactory,
    piper_clip: Clip,
) -> None:  # fmt: skip
    me = tokens.metadata(subject="users/loop-lag")
    admin = tokens.metadata(subject="users/loop-lag-admin", roles=("admin",))
    await stub.Transcribe(transcribe(piper_clip.wav), metadata=me)  # the model loads once
    samplers = itertools.count()
    second = httpbody_pb2.HttpBody(data=wav_claiming(16_000 * 2))  # a second of silence

    async def watched_job() -> None:
        job = (await stub.CreateTranscription(upload(piper_clip.wav), metadata=me)).transcription
        request = speech_pb2.WatchTranscriptionRequest(name=job.name)
        async for _ in stub.WatchTranscription(request, metadata=me):
            pass

    phases = [
        Phase("ListVoices", lambda: stub.ListVoices(speech_pb2.ListVoicesRequest())),
        Phase("GetVoice", lambda: stub.GetVoice(
            speech_pb2.GetVoiceRequest(name="voices/espeak-ng-en-us"))),
        Phase("ListRecognitionModels", lambda: stub.ListRecognitionModels(
            speech_pb2.ListRecognitionModelsRequest())),
        Phase("Transcribe", lambda: stub.Transcribe(transcribe(piper_clip.wav), metadata=me),
              calls=4, in_flight=2),
        Phase("CreateTranscription then WatchTranscription", watched_job, calls=4, in_flight=2),
        Phase("ListTranscriptions", lambda: stub.ListTranscriptions(
            speech_pb2.ListTranscriptionsRequest(), metadata=me)),
        Phase("SynthesizeSpeech", lambda: stub.SynthesizeSpeech(speech_pb2.SynthesizeSpeechRequest(
            text="Hello there.", voice="voices/espeak-ng-en-us"), metadata=me),
              calls=8, in_flight=4),
        Phase("CreateVoiceSample", lambda: stub.CreateVoiceSample(
            speech_pb2.CreateVoiceSampleRequest(body=second, file_name="s.wav"),
            metadata=tokens.metadata(subject=f"users/loop-lag-{next(samplers)}")), calls=8),
        Phase("ListVoiceSamples", lambda: stub.ListVoiceSamples(
            speech_pb2.ListVoiceSamplesRequest(), metadata=me)),
    ]  # fmt: skip
    await assert_loop_free("speech", service.port, admin, phases)
