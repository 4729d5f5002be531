"""Text to speech as the contract asks for it: pick the voice, check the options, synthesize
off the event loop, encode, and answer with the bytes and their MIME type."""

from __future__ import annotations

from google.api import httpbody_pb2

from services.speech import convert, validation
from services.speech.audio import wav_pcm16
from services.speech.settings import SpeechSettings
from services.speech.tts.base import SynthesisError, SynthesisOptions, Voice
from services.speech.tts.catalogue import (
    EncoderMissing,
    VoiceCatalogue,
    VoiceNotFound,
    encode,
    speaks,
)
from voka import errors, pagination
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2

S = speech_pb2
RESOURCE = "speech.voka.dev/Voice"
DEFAULT_LANGUAGE = "en"
FORMATS: dict[int, str] = {
    S.AUDIO_ENCODING_UNSPECIFIED: "wav",
    S.AUDIO_ENCODING_WAV: "wav",
    S.AUDIO_ENCODING_OGG_OPUS: "ogg",
    S.AUDIO_ENCODING_MP3: "mp3",
    S.AUDIO_ENCODING_FLAC: "flac",
}


class Synthesis:
    """SynthesizeSpeech, ListVoices and GetVoice over the voice catalogue."""

    def __init__(self, voices: VoiceCatalogue, settings: SpeechSettings) -> None:
        self._voices = voices
        self._settings = settings

    async def speak(self, request: speech_pb2.SynthesizeSpeechRequest) -> httpbody_pb2.HttpBody:
        validation.check(validation.synthesize(request, self._settings.speech_tts_max_chars))
        voice = self._choose(request.voice, request.language)
        if request.sample_rate_hertz and request.sample_rate_hertz != voice.sample_rate:
            raise errors.invalid_argument([FieldViolation(
                "sample_rate_hertz", f"{voice.name} speaks at {voice.sample_rate} Hz only"
            )])  # fmt: skip
        options = SynthesisOptions(
            rate=request.speaking_rate or 1.0, pitch=2 ** (request.pitch / 12)
        )
        try:
            wav = await self._voices.synthesize(request.text, voice.id, options)
        except SynthesisError as exc:
            raise errors.invalid_argument([FieldViolation("text", str(exc))]) from exc
        data, mime = _encoded(wav, request.audio_encoding)
        return httpbody_pb2.HttpBody(content_type=mime, data=data)

    def _choose(self, name: str, language: str) -> Voice:
        if name:
            try:
                voice = self._voices.voice(name.removeprefix("voices/"))
            except VoiceNotFound:
                raise errors.not_found(RESOURCE, name) from None
            if language and not speaks(voice, language):
                raise errors.invalid_argument([FieldViolation(
                    "language", f"{name} does not speak {language!r}"
                )])  # fmt: skip
            return voice
        try:
            return self._voices.default_voice(language or DEFAULT_LANGUAGE)
        except VoiceNotFound as exc:
            raise errors.invalid_argument([FieldViolation("language", str(exc))]) from exc

    def list(self, request: speech_pb2.ListVoicesRequest) -> speech_pb2.ListVoicesResponse:
        size, bad_size = pagination.page_size(request.page_size)
        query = pagination.fingerprint(request.language, request.engine, request.gender)
        offset, bad_token = pagination.offset_of(request.page_token, query)
        validation.check(
            bad_size, bad_token, validation.language(request.language, "language", bcp47=True)
        )
        matching = [
            convert.voice(v)
            for v in self._voices.voices(request.language or None)
            if request.engine in (0, convert.VOICE_ENGINES.get(v.engine))
            and request.gender in (0, convert.GENDERS.get(v.gender))
        ]
        end = offset + size
        return speech_pb2.ListVoicesResponse(
            voices=matching[offset:end],
            next_page_token=pagination.offset_token(query, end) if end < len(matching) else "",
            total_size=len(matching),
        )

    def get(self, name: str) -> speech_pb2.Voice:
        voice_id, violations = validation.resource_id(name, "voices")
        validation.check(violations)
        try:
            return convert.voice(self._voices.voice(voice_id))
        except VoiceNotFound:
            raise errors.not_found(RESOURCE, name) from None


def _encoded(wav: bytes, encoding: speech_pb2.AudioEncoding.ValueType) -> tuple[bytes, str]:
    if encoding == S.AUDIO_ENCODING_LINEAR16:
        pcm, rate = wav_pcm16(wav)
        return pcm, f"audio/L16;rate={rate};channels=1"
    try:
        return encode(wav, FORMATS[encoding])
    except EncoderMissing as exc:
        raise errors.failed_precondition(
            str(exc), "ENCODER_MISSING", S.AudioEncoding.Name(encoding)
        ) from exc
