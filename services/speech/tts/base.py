"""What a text-to-speech engine offers: voices, and WAV bytes for a text.

`Voice` maps 1:1 onto the contract's `Voice` message (`id` is the `{voice}` of `voices/{voice}`,
`name` its display name). Engines are blocking; the catalogue runs them off the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ESPEAK_NG = "espeak-ng"
PIPER = "piper"
CUSTOM = "custom"


@dataclass(frozen=True)
class Voice:
    """A voice synthesis can speak with. `language` is the main one, first in `languages`."""

    id: str
    name: str
    language: str
    engine: str
    gender: str  # "female" | "male" | "neutral" | ""
    sample_rate: int
    description: str = ""
    languages: tuple[str, ...] = ()
    quality: str = ""
    is_default: bool = False


@dataclass(frozen=True)
class SynthesisOptions:
    """Relative speed, pitch and volume; 1.0 is the voice's own. Pitch is a factor, not semitones
    (the service converts the contract's semitones: `2 ** (st / 12)`)."""

    rate: float = 1.0
    pitch: float = 1.0
    volume: float = 1.0


class SynthesisError(Exception):
    """The engine failed (crashed, timed out, wrote no WAV): the server's fault, not the text's.
    The message is for the log only, as it may hold the program's error output and paths."""


class NoSpeech(ValueError):
    """The text gave no audio (nothing in it to pronounce): the caller's to fix, so the message
    is told to them."""


class Synthesizer(Protocol):
    """One TTS engine and the voices it has."""

    engine: str

    def voices(self) -> list[Voice]:
        """Every voice this engine can speak with here."""
        ...

    def synthesize(self, text: str, voice_id: str, options: SynthesisOptions) -> bytes:
        """WAV bytes (16-bit PCM mono, the voice's native rate). Blocking. SynthesisError when
        the engine fails, NoSpeech when the text gives no audio."""
        ...
