"""SpeechService through gRPC in process: recognition, models, refusals, synthesis, voices.

Speech is generated with Piper (en_US) and espeak-ng and transcribed with the packaged English
Whisper tiny model; assertions allow a word error rate of 10 % for Piper (it is transcribed
exactly here) and 50 % for espeak-ng's robotic voice.
"""

from __future__ import annotations

import io
import wave

import grpc
import pytest
from google.api import httpbody_pb2

from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import Clip
from tests.services.speech.rpc import violations, wav_claiming, wav_seconds
from tests.services.speech.wer import wer
from voka.speech.v1 import speech_pb2

pytestmark = pytest.mark.integration


def transcribe(data: bytes, **config: object) -> speech_pb2.TranscribeRequest:
    return speech_pb2.TranscribeRequest(
        body=httpbody_pb2.HttpBody(content_type="audio/wav", data=data),
        config=speech_pb2.RecognitionConfig(**config),
    )


async def test_piper_speech_is_transcribed_with_segments_and_words(
    stub, tokens: TokenFactory, piper_clip: Clip
):
    reply = await stub.Transcribe(transcribe(piper_clip.wav, word_timestamps=True),
                                  metadata=tokens.metadata())  # fmt: skip
    result = reply.result
    assert reply.content_type == "audio/wav"
    assert wer(piper_clip.text, result.text) <= 0.1, result.text
    assert result.language == "en"
    assert result.engine == speech_pb2.RECOGNITION_ENGINE_FASTER_WHISPER
    assert result.model == "tiny.en"
    duration = result.duration.ToTimedelta().total_seconds()
    assert duration == pytest.approx(piper_clip.audio.duration, abs=0.05)
    assert 0 < result.processing_duration.ToTimedelta().total_seconds() < 30
    last_end = max(s.end_offset.ToTimedelta().total_seconds() for s in result.segments)
    assert 0 < last_end <= duration + 0.5
    words = [w for s in result.segments for w in s.words]
    assert len(words) >= 8
    starts = [w.start_offset.ToTimedelta().total_seconds() for w in words]
    assert starts == sorted(starts)


async def test_espeak_speech_is_transcribed_within_a_looser_error_rate(
    stub, tokens: TokenFactory, espeak_english_clip: Clip
):
    reply = await stub.Transcribe(transcribe(espeak_english_clip.wav),
                                  metadata=tokens.metadata())  # fmt: skip
    assert wer(espeak_english_clip.text, reply.result.text) <= 0.5, reply.result.text


async def test_spanish_is_transcribed_with_the_multilingual_model(
    stub, tokens: TokenFactory, espeak_spanish_clip: Clip
):
    request = transcribe(espeak_spanish_clip.wav, model="base")
    reply = await stub.Transcribe(request, metadata=tokens.metadata())
    assert reply.result.language == "es"
    assert reply.result.model == "base"
    assert wer(espeak_spanish_clip.text, reply.result.text) <= 0.5, reply.result.text


async def test_transcribe_needs_a_caller(stub, piper_clip: Clip):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Transcribe(transcribe(piper_clip.wav))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"just some text, saved as speech.wav\n" * 10, "unsupported_format"),
        (b"", "empty"),
        (wav_claiming(2 * 1024**3 - 100), "too_large"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(100), "corrupt"),
    ],
    ids=["text-renamed-wav", "empty", "2GB-header-claim", "corrupt-wav"],
)
async def test_bad_uploads_are_invalid_argument_on_body(
    stub, tokens: TokenFactory, data: bytes, reason: str
):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Transcribe(transcribe(data), metadata=tokens.metadata())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in violations(err.value)["body"]


async def test_bad_options_name_their_fields(stub, tokens: TokenFactory, piper_clip: Clip):
    request = transcribe(piper_clip.wav, language="english", beam_size=11, model="../etc")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Transcribe(request, metadata=tokens.metadata())
    assert set(violations(err.value)) == {"config.language", "config.beam_size", "config.model"}


async def test_translating_with_an_english_only_model_is_refused(
    stub, tokens: TokenFactory, piper_clip: Clip
):
    request = transcribe(piper_clip.wav, task=speech_pb2.RECOGNITION_TASK_TRANSLATE)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Transcribe(request, metadata=tokens.metadata())
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config.task" in violations(err.value)


async def test_a_missing_model_is_failed_precondition_naming_the_install(
    stub, tokens: TokenFactory, piper_clip: Clip
):
    request = transcribe(piper_clip.wav, model="large-v3")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.Transcribe(request, metadata=tokens.metadata())
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "large-v3" in err.value.details()
    assert "python -m services.speech models" in err.value.details()


async def test_models_are_public_with_the_default_marked(stub, piper_clip: Clip, tokens):
    await stub.Transcribe(transcribe(piper_clip.wav), metadata=tokens.metadata())  # warm it
    reply = await stub.ListRecognitionModels(speech_pb2.ListRecognitionModelsRequest())
    by_id = {(m.engine, m.model): m for m in reply.models}
    tiny = by_id[(speech_pb2.RECOGNITION_ENGINE_FASTER_WHISPER, "tiny.en")]
    assert tiny.is_default
    assert tiny.loaded
    assert not tiny.multilingual
    assert tiny.size_bytes > 0
    assert by_id[(speech_pb2.RECOGNITION_ENGINE_FASTER_WHISPER, "base")].multilingual
    assert reply.default_engine == speech_pb2.RECOGNITION_ENGINE_FASTER_WHISPER
    only_cpp = await stub.ListRecognitionModels(
        speech_pb2.ListRecognitionModelsRequest(engine=speech_pb2.RECOGNITION_ENGINE_WHISPER_CPP)
    )
    assert {m.engine for m in only_cpp.models} == {speech_pb2.RECOGNITION_ENGINE_WHISPER_CPP}


async def test_whisper_cpp_engine_transcribes_the_converted_model(
    stub, tokens: TokenFactory, piper_clip: Clip
):
    request = transcribe(piper_clip.wav, engine=speech_pb2.RECOGNITION_ENGINE_WHISPER_CPP)
    reply = await stub.Transcribe(request, metadata=tokens.metadata())
    assert reply.result.engine == speech_pb2.RECOGNITION_ENGINE_WHISPER_CPP
    assert wer(piper_clip.text, reply.result.text) <= 0.1, reply.result.text


@pytest.mark.parametrize("voice", ["voices/piper-en-us-joe-medium", "voices/espeak-ng-es"])
async def test_synthesis_answers_wav_of_plausible_length(stub, tokens: TokenFactory, voice: str):
    text = "Hola, esto es una prueba de voz." if "es" in voice else "This is a voice test."
    reply = await stub.SynthesizeSpeech(speech_pb2.SynthesizeSpeechRequest(text=text, voice=voice),
                                        metadata=tokens.metadata())  # fmt: skip
    assert reply.content_type == "audio/wav"
    assert reply.data[:4] == b"RIFF"
    assert 0.8 < wav_seconds(reply.data) < 6.0


async def test_synthesis_picks_the_language_default_and_speaks_faster(stub, tokens: TokenFactory):
    text = "This sentence is spoken twice, once at the normal rate and once faster."
    normal = await stub.SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text=text, language="en"), metadata=tokens.metadata()
    )
    fast = await stub.SynthesizeSpeech(
        speech_pb2.SynthesizeSpeechRequest(text=text, language="en", speaking_rate=2.0),
        metadata=tokens.metadata(),
    )
    assert wav_seconds(fast.data) < 0.75 * wav_seconds(normal.data)


async def test_synthesis_in_other_encodings(stub, tokens: TokenFactory):
    request = speech_pb2.SynthesizeSpeechRequest(
        text="Hello there.", voice="voices/espeak-ng-en-us"
    )
    request.audio_encoding = speech_pb2.AUDIO_ENCODING_OGG_OPUS
    ogg = await stub.SynthesizeSpeech(request, metadata=tokens.metadata())
    assert (ogg.content_type, ogg.data[:4]) == ("audio/ogg", b"OggS")
    request.audio_encoding = speech_pb2.AUDIO_ENCODING_LINEAR16
    pcm = await stub.SynthesizeSpeech(request, metadata=tokens.metadata())
    assert pcm.content_type.startswith("audio/L16;rate=")
    assert len(pcm.data) % 2 == 0
    assert len(pcm.data) > 8000


@pytest.mark.parametrize(
    ("voice", "rate"),
    [("voices/piper-en-us-joe-medium", 16_000), ("voices/piper-en-us-joe-medium", 48_000),
     ("voices/espeak-ng-en-us", 8_000), ("voices/espeak-ng-en-us", 44_100)],
)  # fmt: skip
async def test_synthesis_resamples_to_the_requested_rate(
    stub, tokens: TokenFactory, voice: str, rate: int
):
    """The header says the rate asked for, and the samples are that many a second."""
    request = speech_pb2.SynthesizeSpeechRequest(text="This is a voice test.", voice=voice)
    native = await stub.SynthesizeSpeech(request, metadata=tokens.metadata())
    request.sample_rate_hertz = rate
    reply = await stub.SynthesizeSpeech(request, metadata=tokens.metadata())
    with wave.open(io.BytesIO(reply.data)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (rate, 1, 2)
        frames = wav.getnframes()
    assert len(reply.data) == 44 + 2 * frames  # the header's sizes are the real ones
    with wave.open(io.BytesIO(native.data)) as wav:
        native_seconds = wav.getnframes() / wav.getframerate()
    if "espeak" in voice:  # the same speech (Piper's varies a little from run to run)
        assert frames / rate == pytest.approx(native_seconds, abs=0.01)
    assert 0.8 < frames / rate < 6.0
    request.audio_encoding = speech_pb2.AUDIO_ENCODING_LINEAR16
    pcm = await stub.SynthesizeSpeech(request, metadata=tokens.metadata())
    assert pcm.content_type == f"audio/L16;rate={rate};channels=1"
    for outside in (4_000, 96_000):
        request.sample_rate_hertz = outside
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.SynthesizeSpeech(request, metadata=tokens.metadata())
        assert "sample_rate_hertz" in violations(err.value)


async def test_synthesis_refusals(stub, tokens: TokenFactory):
    bad = speech_pb2.SynthesizeSpeechRequest(text="", speaking_rate=9, pitch=20,
                                    audio_encoding=speech_pb2.AUDIO_ENCODING_WEBM_OPUS)  # fmt: skip
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SynthesizeSpeech(bad, metadata=tokens.metadata())
    assert set(violations(err.value)) == {"text", "speaking_rate", "pitch", "audio_encoding"}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SynthesizeSpeech(
            speech_pb2.SynthesizeSpeechRequest(text="hi", voice="voices/nobody"),
            metadata=tokens.metadata(),
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    mismatch = speech_pb2.SynthesizeSpeechRequest(
        text="hi", voice="voices/espeak-ng-es", language="de"
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.SynthesizeSpeech(mismatch, metadata=tokens.metadata())
    assert "language" in violations(err.value)


async def test_voices_filter_and_page(stub):
    spanish = await stub.ListVoices(speech_pb2.ListVoicesRequest(language="es"))
    assert spanish.voices
    assert all(any(tag.startswith("es") for tag in v.languages) for v in spanish.voices)
    piper = await stub.ListVoices(
        speech_pb2.ListVoicesRequest(engine=speech_pb2.VOICE_ENGINE_PIPER)
    )
    assert [v.name for v in piper.voices] == ["voices/piper-en-us-joe-medium"]
    assert piper.voices[0].is_default
    first = await stub.ListVoices(speech_pb2.ListVoicesRequest(page_size=5))
    second = await stub.ListVoices(
        speech_pb2.ListVoicesRequest(page_size=5, page_token=first.next_page_token)
    )
    assert first.total_size > 10
    assert len(first.voices) == 5
    assert not {v.name for v in first.voices} & {v.name for v in second.voices}
    got = await stub.GetVoice(speech_pb2.GetVoiceRequest(name="voices/espeak-ng-es"))
    assert got.voice.engine == speech_pb2.VOICE_ENGINE_ESPEAK_NG
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListVoices(
            speech_pb2.ListVoicesRequest(page_token=first.next_page_token, language="es")
        )
    assert "page_token" in violations(err.value)
