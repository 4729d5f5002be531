"""What one recognition stream may cost: a stream that carries more audio than the limit is
refused, and a client sending faster than recognition is held back (the utterances waiting for
recognition never pass their bound) instead of queueing without end. StreamVoiceChat relays into
StreamingRecognize, so these bounds hold for it too.

The stream is driven directly with a recognizer that answers only when told to, so "faster than
recognition" is exact, not a race; the last test goes through gRPC to show the settings apply.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator, Iterable
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2

from services.speech.audio import SAMPLE_RATE, float_to_wav
from services.speech.engines.base import Transcript
from services.speech.recognition_stream import StreamLimits, recognize_stream
from services.speech.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import service_settings
from tests.services.speech.rpc import violations
from tools.processes import NatsServer
from voka.errors import VokaError
from voka.server import start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc
from voka.wellknown import duration

PENDING = 2
LIMITS = StreamLimits(max_seconds=2.0, max_pending=PENDING, buffered_bytes=1 << 20,
                      buffered_seconds=2.0)  # fmt: skip
UTTERANCES = 50


class HeldRecognition:
    """Recognizes nothing until `release` is set, then answers `heard <n>` for each call."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    async def transcript(
        self, audio: np.ndarray, config: speech_pb2.RecognitionConfig, *_: object
    ) -> Transcript:
        self.calls += 1
        heard = f"heard {self.calls}"
        await self.release.wait()
        return Transcript(heard, "en", 1.0, audio.size / SAMPLE_RATE, ())


def pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def utterance() -> np.ndarray:
    """0.4 s the VAD hears as speech (loud noise), then 0.5 s of silence that ends it."""
    noise = np.random.default_rng(7).uniform(-0.3, 0.3, int(0.4 * SAMPLE_RATE))
    return np.concatenate([noise, np.zeros(SAMPLE_RATE // 2)]).astype(np.float32)


def config(**options: object) -> speech_pb2.StreamingRecognizeRequest:
    return speech_pb2.StreamingRecognizeRequest(
        config=speech_pb2.StreamingRecognitionConfig(**options)
    )


def audio(data: bytes) -> speech_pb2.StreamingRecognizeRequest:
    return speech_pb2.StreamingRecognizeRequest(audio=data)


def chunked(data: bytes, size: int = 3200) -> list[speech_pb2.StreamingRecognizeRequest]:
    return [audio(data[i : i + size]) for i in range(0, len(data), size)]


class Sender:
    """The client's side: its requests, counting those the stream has taken."""

    def __init__(self, requests: Iterable[speech_pb2.StreamingRecognizeRequest]) -> None:
        self._requests = requests
        self.taken = 0

    async def __aiter__(self) -> AsyncIterator[speech_pb2.StreamingRecognizeRequest]:
        for request in self._requests:
            self.taken += 1
            yield request


async def responses(
    sender: Sender, recognition: HeldRecognition, limits: StreamLimits = LIMITS
) -> list[speech_pb2.StreamingRecognizeResponse]:
    return [r async for r in recognize_stream(aiter(sender), recognition, limits)]  # type: ignore[arg-type]


def violation(err: VokaError) -> dict[str, str]:
    (bad,) = [d for d in err.details if isinstance(d, error_details_pb2.BadRequest)]
    return {v.field: v.description for v in bad.field_violations}


@pytest.mark.parametrize("encoding", ["linear16", "wav"])
async def test_a_stream_longer_than_its_limit_is_refused(encoding: str) -> None:
    silence = np.zeros(60 * SAMPLE_RATE, dtype=np.float32)  # a minute against a 2 s limit
    if encoding == "wav":
        first, data = config(encoding=speech_pb2.AUDIO_ENCODING_WAV), float_to_wav(silence)
    else:
        first, data = config(), pcm(silence)
    sender = Sender([first, *chunked(data)])
    with pytest.raises(VokaError) as refused:
        await responses(sender, HeldRecognition())
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    description = violation(refused.value)["streaming_request.audio"]
    assert "too_long" in description
    assert "at most 2 s" in description
    assert sender.taken < 30  # refused at the limit (chunks of 0.1 s), not after reading it all


async def test_a_wav_stream_at_an_absurd_rate_is_refused() -> None:
    """A header claiming 4 MHz would make a gigabyte count as a fraction of a second."""
    wav = bytearray(float_to_wav(np.zeros(SAMPLE_RATE, dtype=np.float32)))
    struct.pack_into("<II", wav, 24, 4_000_000, 8_000_000)  # fmt chunk: rate, byte rate
    sender = Sender([config(encoding=speech_pb2.AUDIO_ENCODING_WAV), audio(bytes(wav))])
    with pytest.raises(VokaError) as refused:
        await responses(sender, HeldRecognition())
    assert "unsupported_format" in violation(refused.value)["streaming_request.audio"]


async def test_a_client_faster_than_recognition_is_held_back() -> None:
    recognition = HeldRecognition()
    sender = Sender(
        [config(min_silence_duration=duration(0.3)), *(audio(pcm(utterance()))
                                                       for _ in range(UTTERANCES))]
    )  # fmt: skip
    long_enough = replace(LIMITS, max_seconds=UTTERANCES * 1.0)
    stream = asyncio.create_task(responses(sender, recognition, long_enough))
    await asyncio.sleep(1.0)  # unbounded, the stream would take all 50 meanwhile
    # the config, the utterance being recognised, PENDING waiting, one waiting for room
    assert sender.taken <= 1 + 1 + PENDING + 1, sender.taken
    assert recognition.calls == 1
    recognition.release.set()
    finals = [r.result for r in await asyncio.wait_for(stream, 30) if r.result.is_final]
    assert [f.segment_index for f in finals] == list(range(UTTERANCES))  # held back, none lost
    assert [f.text for f in finals] == [f"heard {n}" for n in range(1, UTTERANCES + 1)]


@pytest.mark.integration
async def test_the_service_applies_the_stream_limit(
    tokens: TokenFactory, nats: NatsServer, models_dir: Path, tmp_path: Path
) -> None:
    settings = service_settings(tokens, nats.url, models_dir, tmp_path,
                                speech_stream_max_seconds=1.5)  # fmt: skip
    running = await start(SPEC, settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = speech_pb2_grpc.SpeechServiceStub(channel)
            five_seconds = pcm(np.zeros(5 * SAMPLE_RATE, dtype=np.float32))  # one chunk: the
            requests = [config(), audio(five_seconds)]  # refusal comes after it was all sent
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in stub.StreamingRecognize(iter(requests),
                                                       metadata=tokens.metadata()):  # fmt: skip
                    pass
    finally:
        await running.stop()
    assert "too_long" in violations(refused.value)["streaming_request.audio"]
