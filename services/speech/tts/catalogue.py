"""All voices of all TTS engines, one lookup, synthesis (and resampling to the rate asked for)
off the event loop, output encoding.

A language's default voice is its best one: a Piper (neural) voice when one speaks it, else
espeak-ng's. Languages match by BCP 47 prefix: `es` finds `es-419`, `en-US` finds `en-US`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import replace
from typing import cast

import av
import numpy as np

from services.speech.audio import pcm16_frame, resample_wav, wav_pcm16
from services.speech.settings import SpeechSettings
from services.speech.tts.base import PIPER, SynthesisOptions, Synthesizer, Voice
from services.speech.tts.espeak import EspeakSynthesizer
from services.speech.tts.piper import PiperSynthesizer
from voka.thread_pool import BoundedThreadPool

# Output encodings: name → (container, codec, MIME type, sample rates the codec takes).
ENCODINGS: dict[str, tuple[str, str, str, tuple[int, ...]]] = {
    "ogg": ("ogg", "libopus", "audio/ogg", (48_000, 24_000, 16_000, 12_000, 8_000)),
    "mp3": ("mp3", "libmp3lame", "audio/mpeg", (22_050, 24_000, 16_000, 44_100, 48_000)),
    "flac": ("flac", "flac", "audio/flac", ()),
    "aac": ("adts", "aac", "audio/aac", (24_000, 22_050, 16_000, 44_100, 48_000)),
}


class VoiceNotFound(LookupError):
    """No voice with that id, or none for that language."""


class EncoderMissing(LookupError):
    """The installed PyAV/FFmpeg cannot write that encoding (the service: FAILED_PRECONDITION)."""


class VoiceCatalogue:
    """The voices of `synthesizers`, and synthesis through a bounded pool of threads."""

    def __init__(
        self, synthesizers: Sequence[Synthesizer], *, workers: int = 1, queue_size: int = 8
    ) -> None:
        self._engines = {s.engine: s for s in synthesizers}
        self._voices = _with_defaults([v for s in synthesizers for v in s.voices()])
        self._threads = BoundedThreadPool("tts", workers=workers, queue_size=queue_size)

    @classmethod
    def from_settings(cls, settings: SpeechSettings) -> VoiceCatalogue:
        engines: list[Synthesizer] = [PiperSynthesizer(settings.models_dir / "piper")]
        espeak = EspeakSynthesizer(settings.speech_espeak_binary)
        if espeak.available():
            engines.append(espeak)
        return cls(engines, workers=settings.speech_workers, queue_size=settings.speech_queue_size)

    def voices(self, language: str | None = None) -> list[Voice]:
        """Voices by language then name; only those speaking `language` when given."""
        return [v for v in self._voices.values() if not language or speaks(v, language)]

    def voice(self, voice_id: str) -> Voice:
        try:
            return self._voices[voice_id]
        except KeyError:
            raise VoiceNotFound(f"no voice {voice_id!r}") from None

    def default_voice(self, language: str) -> Voice:
        matching = self.voices(language)
        for voice in matching:
            if voice.is_default:
                return voice
        if matching:
            return matching[0]
        raise VoiceNotFound(f"no voice speaks {language!r}")

    async def synthesize(
        self, text: str, voice_id: str, options: SynthesisOptions, sample_rate: int = 0
    ) -> bytes:
        """WAV bytes at `sample_rate` (0: the voice's own), made in a worker thread;
        RESOURCE_EXHAUSTED when the queue is full."""
        return await self._threads.run(self._speak, text, self.voice(voice_id), options,
                                       sample_rate)  # fmt: skip

    def _speak(self, text: str, voice: Voice, options: SynthesisOptions, sample_rate: int) -> bytes:
        """In the worker thread: the engine, then the resampler (its cost grows with the
        audio, so it stays off the event loop too)."""
        wav = self._engines[voice.engine].synthesize(text, voice.id, options)
        return resample_wav(wav, sample_rate) if sample_rate else wav

    def close(self) -> None:
        self._threads.close()


def speaks(voice: Voice, language: str) -> bool:
    """Whether one of the voice's languages is `language` or a variant of it."""
    wanted = language.lower()
    return any(
        tag.lower() == wanted or tag.lower().startswith(wanted + "-")
        for tag in voice.languages or (voice.language,)
    )


def _primary(voice: Voice) -> str:
    return voice.language.split("-")[0].lower()


def _with_defaults(voices: list[Voice]) -> dict[str, Voice]:
    """Sorted by language then name, each primary language's best voice marked default:
    Piper before espeak-ng, the bare language (`es`) before its variants (`es-419`)."""
    best: dict[str, str] = {}
    for voice in sorted(
        voices, key=lambda v: (v.engine != PIPER, v.language.lower() != _primary(v), v.name)
    ):
        best.setdefault(_primary(voice), voice.id)
    marked = [replace(v, is_default=best[_primary(v)] == v.id) for v in voices]
    return {v.id: v for v in sorted(marked, key=lambda v: (v.language.lower(), v.name))}


def encodable(fmt: str) -> bool:
    """Whether `encode` can write `fmt` with the installed FFmpeg."""
    return fmt == "wav" or (fmt in ENCODINGS and ENCODINGS[fmt][1] in av.codecs_available)


def encode(wav: bytes, fmt: str) -> tuple[bytes, str]:
    """WAV synthesis output in `fmt` (wav, ogg, mp3, flac, aac), with its MIME type."""
    if fmt == "wav":
        return wav, "audio/wav"
    if fmt not in ENCODINGS:
        raise EncoderMissing(f"no encoder for {fmt!r}; encodings: wav, {', '.join(ENCODINGS)}")
    container, codec, mime, rates = ENCODINGS[fmt]
    if not encodable(fmt):
        raise EncoderMissing(f"this FFmpeg build has no {codec} encoder for {fmt}")
    pcm, rate = wav_pcm16(wav)
    return _encode_pcm(pcm, rate, container, codec, rates), mime


def _encode_pcm(pcm: bytes, rate: int, container: str, codec: str, rates: tuple[int, ...]) -> bytes:
    out_rate = rate if not rates or rate in rates else rates[0]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as output:
        stream = cast(av.AudioStream, output.add_stream(codec, rate=out_rate, layout="mono"))
        resampler = av.AudioResampler(format=stream.format, layout="mono", rate=out_rate)
        frame = pcm16_frame(np.frombuffer(pcm, dtype="<i2"), rate)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            output.mux(stream.encode(resampled))
        output.mux(stream.encode(None))
    return buffer.getvalue()
