"""Field-level checks of requests: every bad field is named, all at once, by its path in the
request (`config.beam_size`). An upload's body is a field too: audio that is not what it claims,
or beyond the limits, is a violation on `body`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from google.protobuf import duration_pb2

from services.speech import audio
from services.speech.audio import AudioError
from voka import errors, tenancy
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2

_ISO_639 = re.compile(r"^[a-z]{2,3}$")
_BCP_47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_OWNER = re.compile(r"^(users|services)/[A-Za-z0-9_.@-]{1,128}$")
MAX_PROMPT_CHARS = 1000
MAX_FILE_NAME = 255
MAX_REFERENCE = 512
MAX_REQUEST_ID = 128
MAX_DISPLAY_NAME = 100
MAX_DESCRIPTION = 1000
SAMPLE_FIELDS = ("display_name", "language", "description")
STREAM_ENCODINGS = frozenset(
    {
        speech_pb2.AUDIO_ENCODING_UNSPECIFIED,
        speech_pb2.AUDIO_ENCODING_LINEAR16,
        speech_pb2.AUDIO_ENCODING_WAV,
        speech_pb2.AUDIO_ENCODING_OGG_OPUS,
        speech_pb2.AUDIO_ENCODING_WEBM_OPUS,
    }
)


def check(*groups: Iterable[FieldViolation]) -> None:
    """Raise INVALID_ARGUMENT naming every violation of every group, if any."""
    violations = [v for group in groups for v in group]
    if violations:
        raise errors.invalid_argument(violations)


def audio_violation(error: AudioError, path: str = "body") -> FieldViolation:
    return FieldViolation(path, f"{error} ({error.reason})")


def checked_upload(data: bytes, *, max_bytes: int, max_seconds: float) -> audio.AudioFormat:
    """The upload's format from its bytes and header's claims, without decoding it."""
    try:
        return audio.check(data, max_bytes=max_bytes, max_seconds=max_seconds)
    except AudioError as exc:
        raise errors.invalid_argument([audio_violation(exc)]) from exc


async def decoded_upload(data: bytes, *, max_bytes: int, max_seconds: float) -> audio.DecodedAudio:
    """The upload decoded in full, off the event loop."""
    try:
        return await asyncio.to_thread(
            audio.decode, data, max_bytes=max_bytes, max_seconds=max_seconds
        )
    except AudioError as exc:
        raise errors.invalid_argument([audio_violation(exc)]) from exc


def length(value: str, path: str, limit: int) -> list[FieldViolation]:
    return (
        [FieldViolation(path, f"must be at most {limit} characters")] if len(value) > limit else []
    )


def _enum(value: int, enum: type, path: str) -> list[FieldViolation]:
    values = enum.values()  # type: ignore[attr-defined]
    return [] if value in values else [FieldViolation(path, f"unknown value {value}")]


def _between(value: float, low: float, high: float, path: str) -> list[FieldViolation]:
    return [] if low <= value <= high else [FieldViolation(path, f"must be {low:g} to {high:g}")]


def language(code: str, path: str, *, bcp47: bool = False) -> list[FieldViolation]:
    if not code:
        return []
    pattern, what = (
        (_BCP_47, "a BCP 47 tag (`es`, `en-US`)")
        if bcp47
        else (_ISO_639, "an ISO 639-1 code (`es`, `en`)")
    )
    return [] if pattern.match(code) else [FieldViolation(path, f"must be {what}")]


def config(value: speech_pb2.RecognitionConfig, path: str = "config") -> list[FieldViolation]:
    found = [
        *language(value.language, f"{path}.language"),
        *_enum(value.task, speech_pb2.RecognitionTask, f"{path}.task"),
        *_enum(value.engine, speech_pb2.RecognitionEngine, f"{path}.engine"),
        *length(value.initial_prompt, f"{path}.initial_prompt", MAX_PROMPT_CHARS),
        *_between(value.beam_size, 0, 10, f"{path}.beam_size"),
    ]
    return [*found, *model(value.model, f"{path}.model")]


def model(value: str, path: str) -> list[FieldViolation]:
    """A recognition model id, or empty (the default)."""
    if value and not _MODEL.match(value):
        return [FieldViolation(path, "is not a model id (`base`, `tiny.en`)")]
    return []


def resource_id(name: str, collection: str, path: str = "name") -> tuple[str, list[FieldViolation]]:
    """The id in `<collection>/<id>`."""
    prefix = f"{collection}/"
    if not name:
        return "", [FieldViolation(path, "is required")]
    if not name.startswith(prefix) or not _ID.match(name[len(prefix) :]):
        return "", [FieldViolation(path, f"must be `{collection}/{{id}}`")]
    return name[len(prefix) :], []


def owner(value: str, path: str = "owner") -> list[FieldViolation]:
    """A List's owner: empty (the caller's own), `-` (everyone's) or one owner's name."""
    if value and value != tenancy.EVERYONE and not _OWNER.match(value):
        return [FieldViolation(path, "must be `users/{user}`, `services/{domain}` or `-`")]
    return []


def create_transcription(request: speech_pb2.CreateTranscriptionRequest) -> list[FieldViolation]:
    both = bool(request.audio_uri and request.body.data)
    return [
        *([FieldViolation("audio_uri", "set either body or audio_uri, not both")] if both else []),
        *config(request.config),
        *length(request.file_name, "file_name", MAX_FILE_NAME),
        *length(request.external_reference, "external_reference", MAX_REFERENCE),
        *length(request.request_id, "request_id", MAX_REQUEST_ID),
    ]


def list_transcriptions(request: speech_pb2.ListTranscriptionsRequest) -> list[FieldViolation]:
    return [
        *_enum(request.state, speech_pb2.TranscriptionState, "state"),
        *_enum(request.view, speech_pb2.TranscriptionView, "view"),
        *length(request.external_reference, "external_reference", MAX_REFERENCE),
        *owner(request.owner),
    ]


def _duration(
    value: duration_pb2.Duration, low: float, high: float, path: str, present: bool
) -> list[FieldViolation]:
    if not present:
        return []
    return _between(value.ToTimedelta().total_seconds(), low, high, path)


def streaming_config(value: speech_pb2.StreamingRecognitionConfig) -> list[FieldViolation]:
    path = "streaming_request.config"
    found = [
        *config(value.config, f"{path}.config"),
        *_duration(value.min_silence_duration, 0.1, 5.0, f"{path}.min_silence_duration",
                   value.HasField("min_silence_duration")),
        *_duration(value.max_segment_duration, 1.0, 30.0, f"{path}.max_segment_duration",
                   value.HasField("max_segment_duration")),
    ]  # fmt: skip
    if value.encoding not in STREAM_ENCODINGS:
        found.append(
            FieldViolation(f"{path}.encoding", "must be LINEAR16, WAV, OGG_OPUS or WEBM_OPUS")
        )
    found += _rate(value.sample_rate_hertz, f"{path}.sample_rate_hertz")
    found += _between(value.audio_channel_count, 0, 2, f"{path}.audio_channel_count")
    return found


def _rate(hertz: int, path: str) -> list[FieldViolation]:
    """A sample rate the service takes in and gives out; 0 is the default (the input's own, or
    the voice's)."""
    return _between(hertz, audio.MIN_RATE, audio.MAX_RATE, path) if hertz else []


def synthesize(request: speech_pb2.SynthesizeSpeechRequest, max_chars: int) -> list[FieldViolation]:
    found = [
        *language(request.language, "language", bcp47=True),
        *_between(request.pitch, -12, 12, "pitch"),
        *_enum(request.audio_encoding, speech_pb2.AudioEncoding, "audio_encoding"),
    ]
    if not request.text.strip():
        found.append(FieldViolation("text", "must not be empty"))
    found += length(request.text, "text", max_chars)
    if request.speaking_rate:
        found += _between(request.speaking_rate, 0.25, 4.0, "speaking_rate")
    found += _rate(request.sample_rate_hertz, "sample_rate_hertz")
    if request.audio_encoding == speech_pb2.AUDIO_ENCODING_WEBM_OPUS:
        found.append(FieldViolation("audio_encoding", "WEBM_OPUS is an input encoding only"))
    if request.voice:
        found += resource_id(request.voice, "voices", "voice")[1]
    return found


def sample_fields(
    value: speech_pb2.VoiceSample | speech_pb2.CreateVoiceSampleRequest, path: str = ""
) -> list[FieldViolation]:
    return [
        *length(value.display_name, f"{path}display_name", MAX_DISPLAY_NAME),
        *language(value.language, f"{path}language", bcp47=True),
        *length(value.description, f"{path}description", MAX_DESCRIPTION),
    ]


def create_sample(request: speech_pb2.CreateVoiceSampleRequest) -> list[FieldViolation]:
    return [*sample_fields(request), *length(request.file_name, "file_name", MAX_FILE_NAME)]


def update_mask(paths: Iterable[str]) -> list[FieldViolation]:
    bad = sorted(set(paths) - set(SAMPLE_FIELDS))
    if bad:
        allowed = ", ".join(SAMPLE_FIELDS)
        return [FieldViolation("update_mask", f"cannot change {', '.join(bad)} (only {allowed})")]
    return []
