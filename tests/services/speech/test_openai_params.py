"""OpenAI's audio requests read and checked: multipart forms as a real HTTP client encodes
them (httpx, which the SDK uses), their bounds, and every refusal naming the client's field."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from services.speech.engines.base import FASTER_WHISPER, WHISPER_CPP, ModelInfo
from services.speech.openai import form, params
from services.speech.openai.speech_formats import encoded
from services.speech.tts.base import ESPEAK_NG, PIPER, Voice
from voka.errors import VokaError
from voka.speech.v1 import speech_pb2


def multipart(fields: dict[str, Any], file: bytes | None = b"RIFF....WAVE") -> tuple[str, bytes]:
    files = (
        {"file": ("speech.wav", file, "audio/wav")}
        if file is not None
        else {"notes": ("notes.txt", b"no audio", "text/plain")}
    )
    request = httpx.Request("POST", "http://voka/v1/audio/transcriptions", data=fields,
                            files=files)  # fmt: skip
    return request.headers["content-type"], request.read()


def refused(error: pytest.ExceptionInfo[VokaError]) -> dict[str, str]:
    """The field violations of an INVALID_ARGUMENT, by field."""
    assert error.value.code.name == "INVALID_ARGUMENT"
    detail = error.value.details[0]
    return {v.field: v.description for v in detail.field_violations}


def info(model_id: str, engine: str = FASTER_WHISPER, multilingual: bool = True) -> ModelInfo:
    return ModelInfo(id=model_id, engine=engine, path="", multilingual=multilingual,
                     installed=True, size_bytes=1, description="")  # fmt: skip


MODELS = params.RecognitionModels(
    [info("tiny.en", multilingual=False), info("base"), info("base", WHISPER_CPP)],
    FASTER_WHISPER,
    "tiny.en",
)


def read(fields: dict[str, Any], translate: bool = False) -> params.TranscriptionParams:
    content_type, body = multipart(fields)
    return params.transcription(form.parse(content_type, body, max_file_bytes=1000), MODELS,
                                translate=translate)  # fmt: skip


def test_form_fields_repeat_and_the_file_keeps_its_bytes():
    content_type, body = multipart(
        {"model": "whisper-1", "timestamp_granularities[]": ["word", "segment"]}
    )
    parsed = form.parse(content_type, body, max_file_bytes=100)
    assert parsed.fields == {"model": ["whisper-1"],
                             "timestamp_granularities[]": ["word", "segment"]}  # fmt: skip
    assert parsed.files["file"] == form.Upload("speech.wav", "audio/wav", b"RIFF....WAVE")


@pytest.mark.parametrize(
    ("content_type", "body", "field", "says"),
    [
        ("application/json", b"{}", "body", "multipart/form-data"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Disposition: form-data; "
         b'name="model"\r\n\r\nwhisper-1\r\n', "body", "closing boundary"),
        ("multipart/form-data; boundary=xyz", b"--xyz\r\nContent-Type: text/plain\r\n\r\nx\r\n"
         b"--xyz--\r\n", "body", "Content-Disposition"),
    ],
)  # fmt: skip
def test_broken_forms_are_refused(content_type: str, body: bytes, field: str, says: str):
    with pytest.raises(VokaError) as error:
        form.parse(content_type, body, max_file_bytes=100)
    assert says in refused(error)[field]


def test_form_bounds_name_the_part():
    content_type, body = multipart({"model": "whisper-1"}, file=b"x" * 101)
    with pytest.raises(VokaError) as error:
        form.parse(content_type, body, max_file_bytes=100)
    assert refused(error) == {"file": "is larger than 100 bytes"}
    content_type, body = multipart({"prompt": "y" * (form.MAX_FIELD_BYTES + 1)})
    with pytest.raises(VokaError) as error:
        form.parse(content_type, body, max_file_bytes=100)
    assert "prompt" in refused(error)
    content_type, body = multipart({f"f{i}": "1" for i in range(form.MAX_PARTS)})
    with pytest.raises(VokaError) as error:
        form.parse(content_type, body, max_file_bytes=100)
    assert refused(error)["body"] == f"has more than {form.MAX_PARTS} parts"


def test_openai_model_names_mean_the_default_and_voka_ids_pick_one():
    checked = read({
        "model": "whisper-1", "language": "en", "prompt": "Finance.",
        "response_format": "verbose_json", "timestamp_granularities[]": "word",
    })  # fmt: skip
    assert checked.config == speech_pb2.RecognitionConfig(
        language="en", initial_prompt="Finance.", word_timestamps=True
    )
    assert (checked.response_format, checked.words, checked.stream) == ("verbose_json", True, False)
    assert checked.audio == b"RIFF....WAVE"
    assert read({"model": "base"}).config.model == "base"
    engine_and_model = read({"model": "whisper.cpp/base", "stream": "true"})
    assert engine_and_model.config.engine == speech_pb2.RECOGNITION_ENGINE_WHISPER_CPP
    assert (engine_and_model.config.model, engine_and_model.stream) == ("base", True)


def test_a_translation_runs_whispers_translate_task_on_a_multilingual_model():
    checked = read({"model": "base", "language": "es"}, translate=True)
    assert checked.config.task == speech_pb2.RECOGNITION_TASK_TRANSLATE
    assert checked.config.language == ""  # OpenAI's translations take no language
    with pytest.raises(VokaError) as error:
        read({"model": "whisper-1"}, translate=True)
    assert "English-only" in refused(error)["model"]


def test_every_bad_field_is_named_at_once():
    with pytest.raises(VokaError) as error:
        read({
            "model": "whisper-9", "language": "English", "temperature": "1.5",
            "response_format": "xml", "timestamp_granularities[]": "char", "stream": "yes",
        })  # fmt: skip
    bad = refused(error)
    assert set(bad) == {"model", "language", "temperature", "response_format",
                        "timestamp_granularities[]", "stream"}  # fmt: skip
    assert "whisper-1" in bad["model"]
    assert "tiny.en" in bad["model"]
    assert bad["response_format"] == "must be one of json, text, srt, vtt, verbose_json"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model": "whisper-1", "response_format": "srt", "stream": "true"}, "stream"),
        ({"model": "whisper-1", "timestamp_granularities[]": "word"}, "timestamp_granularities[]"),
        ({}, "model"),
    ],
)
def test_combinations_openai_refuses_are_refused(fields: dict[str, str], field: str):
    with pytest.raises(VokaError) as error:
        read(fields)
    assert field in refused(error)


def test_a_form_without_a_file_is_refused():
    content_type, body = multipart({"model": "whisper-1"}, file=None)
    with pytest.raises(VokaError) as error:
        params.transcription(form.parse(content_type, body, max_file_bytes=10), MODELS,
                             translate=False)  # fmt: skip
    assert set(refused(error)) == {"file"}


VOICES = [
    Voice(id="piper-en-us-joe-medium", name="Joe", language="en-US", engine=PIPER,
          gender="male", sample_rate=22050, is_default=True),
    Voice(id="espeak-ng-en-us", name="en", language="en-US", engine=ESPEAK_NG, gender="",
          sample_rate=22050),
    Voice(id="espeak-ng-es", name="es", language="es", engine=ESPEAK_NG, gender="",
          sample_rate=22050, is_default=True),
]  # fmt: skip


def speech(**body: Any) -> params.SpeechParams:
    return params.speech(json.dumps(body).encode(), VOICES, max_chars=100)


def test_openai_voices_mean_the_default_english_voice_of_the_engine_asked():
    checked = speech(model="tts-1", voice="alloy", input="Hello.", speed=1.5)
    assert checked.request == speech_pb2.SynthesizeSpeechRequest(
        text="Hello.", voice="voices/piper-en-us-joe-medium", speaking_rate=1.5,
        sample_rate_hertz=24_000,
    )  # fmt: skip
    assert checked.response_format == "mp3"  # OpenAI's default
    assert speech(model="espeak-ng", voice="nova", input="Hi.").request.voice == (
        "voices/espeak-ng-en-us"
    )
    custom = speech(model="tts-1", voice={"id": "espeak-ng-es"}, input="Hola.",
                    response_format="wav")  # fmt: skip
    assert (custom.request.voice, custom.response_format) == ("voices/espeak-ng-es", "wav")


def test_bad_speech_requests_name_the_openai_fields():
    with pytest.raises(VokaError) as error:
        speech(model="tts-9", voice="nobody", input="", speed=9, response_format="ogg",
               stream_format="sse")  # fmt: skip
    assert set(refused(error)) == {"model", "voice", "input", "speed", "response_format",
                                   "stream_format"}  # fmt: skip
    with pytest.raises(VokaError) as error:
        speech(model="tts-1", voice="alloy", input="x" * 101)
    assert refused(error) == {"input": "must be at most 100 characters"}
    with pytest.raises(VokaError) as error:
        params.speech(b"[1]", VOICES, max_chars=100)
    assert refused(error) == {"body": "must be a JSON object"}


def test_pcm_is_the_wav_samples_without_a_header():
    samples = b"\x01\x00\xff\xff" * 10
    header = b"RIFF" + (36 + len(samples)).to_bytes(4, "little") + b"WAVEfmt "
    fmt = (16).to_bytes(4, "little") + (1).to_bytes(2, "little") + (1).to_bytes(2, "little")
    fmt += (24_000).to_bytes(4, "little") + (48_000).to_bytes(4, "little")
    fmt += (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    wav = header + fmt + b"data" + len(samples).to_bytes(4, "little") + samples
    assert encoded(wav, "pcm") == (samples, "audio/pcm;rate=24000;channels=1")
    assert encoded(wav, "wav") == (wav, "audio/wav")
