"""Text to speech as the contract asks for it: pick the voice, synthesize off the event loop
(resampled to the rate asked for), encode, and answer with the bytes and their MIME type. The
catalogue's errors become statuses here, so the RPCs speak only the contract's vocabulary; an
engine's own words (espeak-ng's error output, paths) go to the log, never to the caller."""

from __future__ import annotations

import logging

import grpc

from services.speech.audio import wav_pcm16
from services.speech.tts.base import NoSpeech, SynthesisError, SynthesisOptions, Voice
from services.speech.tts.catalogue import (
    EncoderMissing,
    VoiceCatalogue,
    VoiceNotFound,
    encode,
    speaks,
)
from voka import errors
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2

log = logging.getLogger(__name__)
RESOURCE = "speech.voka.dev/Voice"
DEFAULT_LANGUAGE = "en"
FORMATS: dict[int, str] = {
    speech_pb2.AUDIO_ENCODING_UNSPECIFIED: "wav",
    speech_pb2.AUDIO_ENCODING_WAV: "wav",
    speech_pb2.AUDIO_ENCODING_OGG_OPUS: "ogg",
    speech_pb2.AUDIO_ENCODING_MP3: "mp3",
    speech_pb2.AUDIO_ENCODING_FLAC: "flac",
}


class Synthesis:
    """Voices by name and speech in them, over the voice catalogue."""

    def __init__(self, voices: VoiceCatalogue) -> None:
        self._voices = voices

    def voice(self, name: str) -> Voice:
        """The voice `voices/{voice}` names; NOT_FOUND when there is none."""
        try:
            return self._voices.voice(name.removeprefix("voices/"))
        except VoiceNotFound:
            raise errors.not_found(RESOURCE, name) from None

    async def speak(self, request: speech_pb2.SynthesizeSpeechRequest) -> tuple[bytes, str]:
        """The audio of a checked request and its MIME type."""
        voice = self._choose(request.voice, request.language)
        options = SynthesisOptions(
            rate=request.speaking_rate or 1.0, pitch=2 ** (request.pitch / 12)
        )
        try:
            wav = await self._voices.synthesize(
                request.text, voice.id, options, request.sample_rate_hertz
            )
        except NoSpeech as exc:
            raise errors.invalid_argument([FieldViolation("text", str(exc))]) from exc
        except SynthesisError as exc:
            log.error("voice %s failed: %s", voice.id, exc)
            message = f"voice {voice.id} failed on the server; another voice may work"
            raise errors.VokaError(message, code=grpc.StatusCode.INTERNAL) from exc
        return _encoded(wav, request.audio_encoding)

    def _choose(self, name: str, language: str) -> Voice:
        if name:
            voice = self.voice(name)
            if language and not speaks(voice, language):
                raise errors.invalid_argument([FieldViolation(
                    "language", f"{name} does not speak {language!r}"
                )])  # fmt: skip
            return voice
        try:
            return self._voices.default_voice(language or DEFAULT_LANGUAGE)
        except VoiceNotFound as exc:
            raise errors.invalid_argument([FieldViolation("language", str(exc))]) from exc


def _encoded(wav: bytes, encoding: speech_pb2.AudioEncoding.ValueType) -> tuple[bytes, str]:
    if encoding == speech_pb2.AUDIO_ENCODING_LINEAR16:
        pcm, rate = wav_pcm16(wav)
        return pcm, f"audio/L16;rate={rate};channels=1"
    try:
        return encode(wav, FORMATS[encoding])
    except EncoderMissing as exc:
        raise errors.failed_precondition(
            str(exc), "ENCODER_MISSING", speech_pb2.AudioEncoding.Name(encoding)
        ) from exc
