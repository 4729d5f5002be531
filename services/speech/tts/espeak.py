"""espeak-ng: formant synthesis, robotic but tiny, in ~100 languages (Debian's `espeak-ng`).

The program is run once per request with the text on stdin (never on the command line, so no
text can be read as an option). Its `--stdout` WAV header claims ~2 GB (it streams); the bytes
handed back get a header with the real sizes.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cached_property

from services.speech.audio import pcm16_wav, wav_pcm16
from services.speech.tts.base import ESPEAK_NG, SynthesisError, SynthesisOptions, Voice

DEFAULT_WPM = 175
DEFAULT_PITCH = 50
DEFAULT_AMPLITUDE = 100
SAMPLE_RATE = 22_050
_GENDERS = {"M": "male", "F": "female"}


class EspeakSynthesizer:
    """Every language `espeak-ng --voices` lists, one voice each (`espeak-ng-<lang>`)."""

    engine = ESPEAK_NG

    def __init__(self, binary: str = "espeak-ng", *, timeout: float = 30.0) -> None:
        self._binary = binary
        self._timeout = timeout

    def available(self) -> bool:
        return shutil.which(self._binary) is not None

    def voices(self) -> list[Voice]:
        return list(self._voices.values())

    @cached_property
    def _voices(self) -> dict[str, Voice]:
        if not self.available():
            return {}
        listing = subprocess.run(
            [self._binary, "--voices"],
            capture_output=True,
            text=True,
            timeout=self._timeout,
            check=True,
        ).stdout
        voices = (_parse_voice_line(line) for line in listing.splitlines()[1:])
        return {voice.id: voice for voice in voices if voice is not None}

    def synthesize(self, text: str, voice_id: str, options: SynthesisOptions) -> bytes:
        voice = self._voices[voice_id]
        command = [
            self._binary,
            "--stdin",
            "--stdout",
            "-v", voice.language.lower(),
            "-s", str(_clamp(DEFAULT_WPM * options.rate, 80, 450)),
            "-p", str(_clamp(DEFAULT_PITCH * options.pitch, 0, 99)),
            "-a", str(_clamp(DEFAULT_AMPLITUDE * options.volume, 0, 200)),
        ]  # fmt: skip
        try:
            done = subprocess.run(
                command,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self._timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise SynthesisError(f"espeak-ng took more than {self._timeout:g} s") from exc
        if done.returncode != 0 or not done.stdout.startswith(b"RIFF"):
            output = done.stderr.decode(errors="replace").strip()
            raise SynthesisError(f"espeak-ng exited with {done.returncode}: {output}")
        pcm, rate = wav_pcm16(done.stdout)
        return pcm16_wav(pcm, rate)


def _clamp(value: float, low: int, high: int) -> int:
    return int(min(high, max(low, round(value))))


def _parse_voice_line(line: str) -> Voice | None:
    """A line of `espeak-ng --voices`: `Pty Language Age/Gender VoiceName File Others`."""
    columns = line.split()
    if len(columns) < 5:
        return None
    language, gender, name = columns[1], columns[2].rpartition("/")[2], columns[3]
    tag = _bcp47(language)
    return Voice(
        id=f"espeak-ng-{language.lower()}",
        name=f"{name.replace('_', ' ')} (espeak-ng)",
        language=tag,
        engine=ESPEAK_NG,
        gender=_GENDERS.get(gender, ""),
        sample_rate=SAMPLE_RATE,
        description="espeak-ng formant voice (GPL-3.0): robotic, small, fast.",
        languages=(tag,),
    )


def _bcp47(language: str) -> str:
    """espeak's `en-gb-scotland`/`es-419` as BCP 47 (`en-GB-scotland`, `es-419`)."""
    subtags = language.split("-")
    if len(subtags) > 1 and len(subtags[1]) == 2 and subtags[1].isalpha():
        subtags[1] = subtags[1].upper()
    return "-".join(subtags)
