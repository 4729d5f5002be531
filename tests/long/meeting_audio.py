"""An hour-long meeting recording for the long tier: a scripted meeting's ~100 varied sentences
said once by the packaged Piper voice the other tests use, then laid end to end with pauses,
round after round, until the hour is full, written as 16 kHz mono WAV.

The script names decisions and owners a summary must keep (`DECISIONS`, `OWNERS`); the filler
sentences are every pattern crossed with every topic, in an order that changes topic each
sentence, so no two neighbours sound alike.
"""

from __future__ import annotations

import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from services.speech.audio import decode
from services.speech.tts.base import SynthesisOptions
from services.speech.tts.piper import PiperSynthesizer
from tests.services.speech.conftest import PIPER_VOICE

RATE = 16_000
KEY_SENTENCES = (
    "Thanks everyone for joining the quarterly planning meeting.",
    "We decided to launch the new website on March third.",
    "Robert will send the budget to the finance team by Friday.",
    "David will fix the login bug before the launch.",
    "Peter will write the press release for the launch.",
    "We agreed to move the weekly meeting to Tuesday mornings.",
)
OWNERS = ("Robert", "David", "Peter")
DECISIONS = ("website", "budget", "login", "press release", "tuesday")
TOPICS = (
    "the mobile app", "the customer survey", "the hiring plan", "the office move",
    "the cloud bill", "the support queue", "the partner contract", "the design system",
    "the security audit", "the training day",
)  # fmt: skip
PATTERNS = (
    "Let's look at {} next.",
    "The numbers for {} are better than last month.",
    "I think {} needs a little more time.",
    "Does anyone have questions about {}?",
    "The team finished the first draft of {}.",
    "We are still waiting for feedback on {}.",
    "The cost of {} went up a little this quarter.",
    "Customers asked about {} again this week.",
    "I will share my notes on {} after the call.",
    "That covers {} for today.",
)
# Pauses between sentences, in seconds, taken in turn: people leave gaps of different length.
PAUSES = (0.6, 1.1, 0.8, 1.6, 0.7, 2.4, 0.9, 1.3)


def script() -> list[str]:
    """The meeting's sentences in the order said: the key sentences spread among the filler."""
    filler = [PATTERNS[p].format(TOPICS[(p + t) % len(TOPICS)])
              for t in range(len(TOPICS)) for p in range(len(PATTERNS))]  # fmt: skip
    said = list(filler)
    step = len(filler) // len(KEY_SENTENCES)
    for i, key in enumerate(KEY_SENTENCES):
        said.insert(i * (step + 1), key)
    return said


@dataclass(frozen=True)
class Recording:
    path: Path
    content_type: str
    seconds: float
    sentences: int  # sentences said in the whole hour


def synthesise(sentences: list[str]) -> list[np.ndarray]:
    """Each sentence said once by Piper, as int16 samples at 16 kHz."""
    piper = PiperSynthesizer(None, varied=False)
    clips = []
    for text in sentences:
        wav = piper.synthesize(text, PIPER_VOICE, SynthesisOptions())
        audio = decode(wav, max_bytes=10**8, max_seconds=120)
        clips.append((np.clip(audio.samples, -1, 1) * 32767).astype("<i2"))
    return clips


def _hour(clips: list[np.ndarray], seconds: float) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each clip with the pause after it, round after round, until `seconds` are said."""
    total, turn = 0, 0
    while total < seconds * RATE:
        clip = clips[turn % len(clips)]
        pause = np.zeros(int(PAUSES[turn % len(PAUSES)] * RATE), dtype="<i2")
        yield clip, pause
        total += len(clip) + len(pause)
        turn += 1


def write(clips: list[np.ndarray], seconds: float, path: Path) -> Recording:
    """The hour written as WAV (about 115 MB), one piece at a time."""
    said, sentences = 0, 0
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for clip, pause in _hour(clips, seconds):
            out.writeframes(clip.tobytes() + pause.tobytes())
            said += len(clip) + len(pause)
            sentences += 1
    return Recording(path, "audio/wav", said / RATE, sentences)
