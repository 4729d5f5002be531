"""Synthesized speech in OpenAI's audio formats: WAV from the voice catalogue, encoded by the
catalogue's own encoders (PyAV's FFmpeg: mp3, Ogg Opus, FLAC, AAC in ADTS), or `pcm`, which
OpenAI defines as headerless 16-bit little-endian mono at 24 kHz. A format the installed
FFmpeg cannot write is INVALID_ARGUMENT on `response_format` naming the formats that work."""

from __future__ import annotations

from services.speech.audio import wav_pcm16
from services.speech.tts.catalogue import EncoderMissing, encodable, encode
from voka import errors
from voka.errors import FieldViolation

# OpenAI's format name -> the catalogue's encoder name (`pcm` is unwrapped WAV).
SPEECH_FORMATS: dict[str, str] = {
    "mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac", "wav": "wav", "pcm": "pcm",
}  # fmt: skip
# OpenAI speaks at 24 kHz in every format.
SPEECH_RATE = 24_000
PCM_TYPE = f"audio/pcm;rate={SPEECH_RATE};channels=1"


def encoded(wav: bytes, fmt: str) -> tuple[bytes, str]:
    """`wav` in OpenAI format `fmt` (a key of SPEECH_FORMATS), with its MIME type. Blocking:
    encoders take CPU time in proportion to the audio."""
    if fmt == "pcm":
        return wav_pcm16(wav)[0], PCM_TYPE
    try:
        return encode(wav, SPEECH_FORMATS[fmt])
    except EncoderMissing as exc:
        working = [name for name, codec in SPEECH_FORMATS.items()
                   if codec == "pcm" or encodable(codec)]  # fmt: skip
        raise errors.invalid_argument([FieldViolation(
            "response_format", f"{exc}; formats this server writes: {', '.join(working)}"
        )]) from exc  # fmt: skip
