"""StreamingRecognize through gRPC: VAD cuts the stream so a final result arrives while audio
still flows; partial results, speech events, WAV streams, single utterance, bad streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import numpy as np
import pytest
from google.protobuf import duration_pb2

from services.speech.audio import SAMPLE_RATE, float_to_wav
from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import Clip
from tests.services.speech.rpc import violations
from tests.services.speech.wer import wer
from voka.speech.v1 import speech_pb2

pytestmark = pytest.mark.integration
CHUNK = SAMPLE_RATE // 10  # 100 ms


def pcm(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def chunks(data: bytes, size: int = 2 * CHUNK) -> list[speech_pb2.StreamingRecognizeRequest]:
    return [
        speech_pb2.StreamingRecognizeRequest(audio=data[i : i + size])
        for i in range(0, len(data), size)
    ]


def config(**options: object) -> speech_pb2.StreamingRecognizeRequest:
    return speech_pb2.StreamingRecognizeRequest(
        config=speech_pb2.StreamingRecognitionConfig(**options)
    )


async def test_final_arrives_while_audio_continues(
    stub, tokens: TokenFactory, piper_clip: Clip, piper_clip_2: Clip
):
    first_final = asyncio.Event()

    async def requests() -> AsyncIterator[speech_pb2.StreamingRecognizeRequest]:
        yield config(
            interim_results=True, config=speech_pb2.RecognitionConfig(word_timestamps=True)
        )
        for request in chunks(pcm(np.concatenate([piper_clip.audio.samples, silence(1.0)]))):
            yield request
        await asyncio.wait_for(first_final.wait(), 30)  # the speaker goes on only after it
        for request in chunks(pcm(np.concatenate([piper_clip_2.audio.samples, silence(0.3)]))):
            yield request

    responses = []
    async for response in stub.StreamingRecognize(requests(), metadata=tokens.metadata()):
        responses.append(response)
        if response.result.is_final:
            first_final.set()
    finals = [r.result for r in responses if r.result.is_final]
    assert [f.segment_index for f in finals] == [0, 1]
    assert wer(piper_clip.text, finals[0].text) <= 0.1, finals[0].text
    assert wer(piper_clip_2.text, finals[1].text) <= 0.1, finals[1].text
    second_start = finals[1].start_offset.ToTimedelta().total_seconds()
    assert second_start == pytest.approx(piper_clip.audio.duration + 1.0, abs=0.5)
    assert finals[1].words[0].start_offset.ToTimedelta().total_seconds() >= second_start - 0.3
    events = [r.speech_event for r in responses if r.speech_event]
    assert (
        events == [speech_pb2.SPEECH_EVENT_SPEECH_STARTED, speech_pb2.SPEECH_EVENT_SPEECH_ENDED] * 2
    )
    partials = [r.result for r in responses if r.result.text and not r.result.is_final]
    assert partials
    assert all(p.segment_index in (0, 1) for p in partials)


async def test_wav_stream_with_single_utterance_ends_after_the_first_final(
    stub, tokens: TokenFactory, piper_clip: Clip
):
    audio = np.concatenate([piper_clip.audio.samples, silence(1.0), piper_clip.audio.samples])
    requests = [config(encoding=speech_pb2.AUDIO_ENCODING_WAV, single_utterance=True,
                       min_silence_duration=duration_pb2.Duration(nanos=300_000_000)),
                *chunks(float_to_wav(audio), size=3001)]  # fmt: skip
    responses = [
        r async for r in stub.StreamingRecognize(iter(requests), metadata=tokens.metadata())
    ]
    finals = [r.result for r in responses if r.result.is_final]
    assert len(finals) == 1
    assert wer(piper_clip.text, finals[0].text) <= 0.1, finals[0].text
    assert responses[-1].speech_event == speech_pb2.SPEECH_EVENT_END_OF_SINGLE_UTTERANCE


async def test_stereo_8khz_pcm_is_downmixed_and_resampled(
    stub, tokens: TokenFactory, piper_clip: Clip
):
    mono = piper_clip.audio.samples[::2]  # 16 kHz → 8 kHz (the clip has little above 4 kHz)
    stereo = np.repeat(np.concatenate([mono, silence(0.25)]), 2)
    requests = [config(sample_rate_hertz=8000, audio_channel_count=2), *chunks(pcm(stereo))]
    responses = [
        r async for r in stub.StreamingRecognize(iter(requests), metadata=tokens.metadata())
    ]
    finals = [r.result for r in responses if r.result.is_final]
    assert wer(piper_clip.text, " ".join(f.text for f in finals)) <= 0.2


async def test_a_stream_must_start_with_its_config(stub, tokens: TokenFactory):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stub.StreamingRecognize(
            iter([speech_pb2.StreamingRecognizeRequest(audio=b"\0\0")]), metadata=tokens.metadata()
        ):
            pass
    assert "streaming_request.config" in violations(err.value)
    bad = config(sample_rate_hertz=100, max_segment_duration=duration_pb2.Duration(seconds=60))
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in stub.StreamingRecognize(iter([bad]), metadata=tokens.metadata()):
            pass
    assert set(violations(err.value)) == {
        "streaming_request.config.sample_rate_hertz",
        "streaming_request.config.max_segment_duration",
    }
