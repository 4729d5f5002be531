"""OpenAI's audio requests read into the contract's own: a transcription form into audio bytes
and a `RecognitionConfig`, a speech body into a `SynthesizeSpeechRequest`. The contract's
checks (services/speech/validation.py) run on the result, their field paths renamed to the
names the client sent (`config.language` -> `language`, `text` -> `input`), so a client learns
which of its own fields was wrong. Fields OpenAI defines that change nothing here are accepted
and ignored as OpenAI ignores unknown ones: `include[]` (no logprobs), `chunking_strategy`,
`instructions` (no engine here takes a style prompt).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from services.speech import validation
from services.speech.convert import RECOGNITION_ENGINES
from services.speech.engines.base import ModelInfo
from services.speech.openai.form import Form
from services.speech.openai.names import (
    OPENAI_SPEECH_MODELS,
    ModelChoice,
    UnknownName,
    recognition_model,
    voice_id,
)
from services.speech.openai.speech_formats import SPEECH_FORMATS, SPEECH_RATE
from services.speech.openai.writers import WRITERS
from services.speech.tts.base import ESPEAK_NG, PIPER, Voice
from voka import errors
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2

GRANULARITIES = frozenset({"segment", "word"})
STREAMABLE_FORMATS = ("json", "text")
TRUE, FALSE = "true", "false"
# A speech body is text (VOKA_SPEECH_TTS_MAX_CHARS) and a few fields: far below Envoy's 64 MiB.
MAX_SPEECH_BODY = 1024 * 1024
SPEECH_ENGINES = (PIPER, ESPEAK_NG)
_RECOGNITION_FIELDS = {"config.language": "language", "config.initial_prompt": "prompt",
                       "config.model": "model"}  # fmt: skip
_SPEECH_FIELDS = {"text": "input", "voice": "voice", "speaking_rate": "speed"}


@dataclass(frozen=True)
class TranscriptionParams:
    """A checked transcription or translation request."""

    audio: bytes
    config: speech_pb2.RecognitionConfig
    response_format: str
    words: bool
    stream: bool


@dataclass(frozen=True)
class RecognitionModels:
    """What model names can mean: the models known (installed or installable) and the
    configured default."""

    known: Sequence[ModelInfo]
    default_engine: str
    default_model: str


def _renamed(violations: Iterable[FieldViolation], names: dict[str, str]) -> list[FieldViolation]:
    return [FieldViolation(names.get(v.field, v.field), v.description) for v in violations]


def _flag(value: str | None, path: str) -> tuple[bool, list[FieldViolation]]:
    if value in (None, "", FALSE):
        return False, []
    if value == TRUE:
        return True, []
    return False, [FieldViolation(path, "must be true or false")]


def _temperature(value: str | None) -> list[FieldViolation]:
    """Checked as OpenAI checks it (0 to 1), not applied: the engines decode from temperature 0
    whatever it is (faster-whisper raises it only for a segment that fails its own checks)."""
    if not value:
        return []
    try:
        number = float(value)
    except ValueError:
        return [FieldViolation("temperature", "must be a number")]
    return [] if 0.0 <= number <= 1.0 else [FieldViolation("temperature", "must be 0 to 1")]


def _model(
    name: str | None, models: RecognitionModels, translate: bool
) -> tuple[ModelChoice | None, list[FieldViolation]]:
    if not name:
        return None, [FieldViolation("model", "is required")]
    try:
        choice = recognition_model(name, models.known, models.default_engine, models.default_model)
    except UnknownName as exc:
        return None, [FieldViolation("model", str(exc))]
    if translate and choice.info is not None and not choice.info.multilingual:
        return choice, [FieldViolation(
            "model", f"{choice.info.id!r} is English-only; translations need a multilingual model"
        )]  # fmt: skip
    return choice, []


def _format(form: Form, stream: bool) -> tuple[str, bool, list[FieldViolation]]:
    """The response format and whether words were asked for."""
    fmt = form.value("response_format") or "json"
    granularities = form.fields.get("timestamp_granularities[]", [])
    found: list[FieldViolation] = []
    if fmt not in WRITERS:
        found.append(FieldViolation("response_format", f"must be one of {', '.join(WRITERS)}"))
    unknown = sorted(set(granularities) - GRANULARITIES)
    if unknown:
        found.append(FieldViolation("timestamp_granularities[]", "must be segment or word"))
    words = "word" in granularities
    if granularities and fmt != "verbose_json":
        found.append(FieldViolation(
            "timestamp_granularities[]", "needs response_format verbose_json"
        ))  # fmt: skip
    if stream and fmt not in STREAMABLE_FORMATS:
        found.append(FieldViolation("stream", "needs response_format json or text"))
    return fmt, words, found


def transcription(form: Form, models: RecognitionModels, *, translate: bool) -> TranscriptionParams:
    """A transcription (or, with `translate`, translation) form, checked; INVALID_ARGUMENT
    naming every bad field at once."""
    upload = form.files.get("file")
    found = [] if upload else [FieldViolation("file", "is required (the audio, as a file part)")]
    choice, bad_model = _model(form.value("model"), models, translate)
    stream, bad_stream = _flag(form.value("stream"), "stream")
    fmt, words, bad_format = _format(form, stream)
    config = speech_pb2.RecognitionConfig(
        language="" if translate else form.value("language") or "",
        initial_prompt=form.value("prompt") or "",
        task=speech_pb2.RECOGNITION_TASK_TRANSLATE if translate else 0,  # type: ignore[arg-type]
        word_timestamps=words,
    )
    if choice is not None:
        config.model = choice.model
        if choice.engine:
            config.engine = RECOGNITION_ENGINES[choice.engine]  # type: ignore[assignment]
    found += [*bad_model, *bad_stream, *bad_format, *_temperature(form.value("temperature"))]
    found += _renamed(validation.config(config), _RECOGNITION_FIELDS)
    validation.check(found)
    return TranscriptionParams(upload.data if upload else b"", config, fmt, words, stream)


@dataclass(frozen=True)
class SpeechParams:
    """A checked speech request: what to synthesize, and the OpenAI format to answer in."""

    request: speech_pb2.SynthesizeSpeechRequest
    response_format: str


def _body(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_SPEECH_BODY:
        raise errors.invalid_argument([
            FieldViolation("body", f"must be at most {MAX_SPEECH_BODY} bytes")
        ])  # fmt: skip
    try:
        body = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise errors.invalid_argument([FieldViolation("body", f"is not JSON: {exc}")]) from exc
    if not isinstance(body, dict):
        raise errors.invalid_argument([FieldViolation("body", "must be a JSON object")])
    return body


def _string(body: dict[str, Any], key: str, found: list[FieldViolation]) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        found.append(FieldViolation(key, "must be a string"))
        return ""
    return value


def _speech_model(body: dict[str, Any], found: list[FieldViolation]) -> str:
    model = _string(body, "model", found)
    if not model:
        found.append(FieldViolation("model", "is required"))
    elif model not in OPENAI_SPEECH_MODELS and model not in SPEECH_ENGINES:
        known = ", ".join([*sorted(OPENAI_SPEECH_MODELS), *SPEECH_ENGINES])
        found.append(FieldViolation("model", f"unknown model {model!r}; use one of {known}"))
    return model


def _voice(
    body: dict[str, Any], model: str, voices: Sequence[Voice], found: list[FieldViolation]
) -> str:
    raw = body.get("voice")
    name = raw.get("id") if isinstance(raw, dict) else raw  # OpenAI's custom voice `{"id"}`
    if not name:
        found.append(FieldViolation("voice", "is required"))
        return ""
    if not isinstance(name, str):
        found.append(FieldViolation("voice", 'must be a voice name or {"id": name}'))
        return ""
    try:
        return f"voices/{voice_id(name, model, voices)}"
    except UnknownName as exc:
        found.append(FieldViolation("voice", str(exc)))
        return ""


def _speed(body: dict[str, Any], found: list[FieldViolation]) -> float:
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)):
        found.append(FieldViolation("speed", "must be a number"))
        return 1.0
    return float(speed)


def speech(data: bytes, voices: Sequence[Voice], max_chars: int) -> SpeechParams:
    """A speech body, checked; INVALID_ARGUMENT naming every bad field at once."""
    body = _body(data)
    found: list[FieldViolation] = []
    text = _string(body, "input", found)
    model = _speech_model(body, found)
    voice = _voice(body, model, voices, found)
    fmt = _string(body, "response_format", found) or "mp3"
    if fmt not in SPEECH_FORMATS:
        found.append(
            FieldViolation("response_format", f"must be one of {', '.join(SPEECH_FORMATS)}")
        )
    if _string(body, "stream_format", found) not in ("", "audio"):
        found.append(FieldViolation("stream_format", "only `audio` is served (no `sse`)"))
    request = speech_pb2.SynthesizeSpeechRequest(
        text=text, voice=voice, speaking_rate=_speed(body, found), sample_rate_hertz=SPEECH_RATE
    )
    found += _renamed(validation.synthesize(request, max_chars), _SPEECH_FIELDS)
    validation.check(found)
    return SpeechParams(request, fmt)
