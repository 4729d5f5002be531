"""What every recognition engine answers with, and the one interface they share.

The dataclasses map 1:1 onto the contract's messages (`Word`, `TranscriptSegment`,
`TranscriptionResult`, `RecognitionModel`), so the servicer converts without guessing. Engines
are plain blocking objects: the recognition pool runs them in worker threads, never on the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

FASTER_WHISPER = "faster-whisper"
WHISPER_CPP = "whisper.cpp"
ENGINES: tuple[str, ...] = (FASTER_WHISPER, WHISPER_CPP)


@dataclass(frozen=True)
class Word:
    """A word with its timing (seconds from the start of the audio); `text` keeps its space."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Segment:
    """A stretch of speech as Whisper cuts it."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


@dataclass(frozen=True)
class TranscribeOptions:
    """The contract's `RecognitionConfig` minus engine and model (those pick the recognizer)."""

    language: str | None = None
    translate: bool = False
    initial_prompt: str | None = None
    word_timestamps: bool = False
    vad: bool = False
    beam_size: int = 1


@dataclass(frozen=True)
class Transcript:
    """A recognition's result; `language_probability` is 1.0 when the language was a hint."""

    text: str
    language: str
    language_probability: float
    duration: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class ModelInfo:
    """A recognition model the catalogue knows, installed or not.

    `loaded` and `is_default` are filled by whoever knows (the pool, the catalogue): the model
    itself cannot tell.
    """

    id: str
    engine: str
    path: str
    multilingual: bool
    installed: bool
    size_bytes: int
    description: str
    display_name: str = ""
    loaded: bool = False
    is_default: bool = False


SegmentCallback = Callable[[Segment], None]


class Recognizer(Protocol):
    """One loaded model. Blocking; never called on the event loop."""

    info: ModelInfo

    def transcribe(
        self,
        audio: np.ndarray,
        options: TranscribeOptions,
        on_segment: SegmentCallback | None = None,
    ) -> Transcript:
        """Recognise float32 mono 16 kHz audio; `on_segment` sees each segment as it ends."""
        ...


class ModelMissing(Exception):
    """A model that is not installed: the service answers FAILED_PRECONDITION with the hint.

    The message reaches callers, so `install_hint` names commands, never paths (they would tell
    how the server is laid out); `where`, what was looked for on disk, is for the log only.
    """

    def __init__(self, model: str, install_hint: str, where: str = "") -> None:
        super().__init__(f"recognition model {model!r} is not installed: {install_hint}")
        self.model = model
        self.install_hint = install_hint
        self.where = where


class ModelCorrupt(Exception):
    """A model file that exists but cannot be loaded (truncated, wrong format).

    `reason` is the loader's own words, often with the file's path: for the log only.
    """

    def __init__(self, model: str, reason: str) -> None:
        super().__init__(f"recognition model {model!r} cannot be loaded: {reason}")
        self.model = model
        self.reason = reason


def join_segments(segments: tuple[Segment, ...]) -> str:
    """The transcript's text: segment texts joined as Whisper writes them, trimmed."""
    return "".join(segment.text for segment in segments).strip()


class UnsupportedOption(ValueError):
    """An option the model cannot honour (translate or a non-English hint on an English model).

    `field` is the option's path in the contract's `RecognitionConfig`, for the field violation.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_options(info: ModelInfo, options: TranscribeOptions) -> None:
    """Refuse what an English-only model would silently ignore or get wrong."""
    if info.multilingual:
        return
    if options.translate:
        raise UnsupportedOption("config.task", f"model {info.id!r} is English-only: no translate")
    if options.language not in (None, "", "en"):
        raise UnsupportedOption(
            "config.language",
            f"model {info.id!r} is English-only: it cannot hear {options.language!r}",
        )
