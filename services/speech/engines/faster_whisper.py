"""faster-whisper (CTranslate2): loads a CTranslate2 Whisper model directory and transcribes.

The segments come from a generator that runs the decoder lazily, so each one is handed to
`on_segment` as soon as it is decoded (progress for long jobs, results for streams).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from faster_whisper import WhisperModel
from faster_whisper.transcribe import Segment as FwSegment

from services.speech.engines.base import (
    ModelCorrupt,
    ModelInfo,
    ModelMissing,
    Segment,
    SegmentCallback,
    TranscribeOptions,
    Transcript,
    Word,
    check_options,
    join_segments,
)

REQUIRED_FILES = ("model.bin", "config.json")


class FasterWhisperRecognizer:
    """One CTranslate2 Whisper model, loaded once."""

    def __init__(
        self, info: ModelInfo, *, compute_type: str = "int8", cpu_threads: int = 0
    ) -> None:
        check_model_dir(info)
        self.info = info
        try:
            self._model = WhisperModel(
                info.path,
                device="cpu",
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                local_files_only=True,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise ModelCorrupt(info.id, f"{info.path}: {exc}") from exc

    def transcribe(
        self,
        audio: np.ndarray,
        options: TranscribeOptions,
        on_segment: SegmentCallback | None = None,
    ) -> Transcript:
        check_options(self.info, options)
        generated, info = self._model.transcribe(
            audio,
            language=options.language or None,
            task="translate" if options.translate else "transcribe",
            initial_prompt=options.initial_prompt or None,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad,
            beam_size=max(1, options.beam_size),
        )
        segments = []
        for raw in generated:
            segment = _segment(raw)
            segments.append(segment)
            if on_segment is not None:
                on_segment(segment)
        done = tuple(segments)
        return Transcript(
            text=join_segments(done),
            language=info.language,
            language_probability=float(info.language_probability),
            duration=info.duration,
            segments=done,
        )


def _segment(raw: FwSegment) -> Segment:
    words = tuple(
        Word(text=w.word, start=float(w.start), end=float(w.end), probability=float(w.probability))
        for w in raw.words or ()
    )
    return Segment(
        start=float(raw.start),
        end=float(raw.end),
        text=raw.text,
        words=words,
        avg_logprob=raw.avg_logprob,
        no_speech_prob=raw.no_speech_prob,
    )


def check_model_dir(info: ModelInfo) -> None:
    """ModelMissing unless the directory holds a CTranslate2 model's files."""
    missing = [name for name in REQUIRED_FILES if not (Path(info.path) / name).is_file()]
    if missing:
        raise ModelMissing(
            info.id,
            f"its files are incomplete (no {', '.join(missing)}); "
            f"run `python -m services.speech models install {info.id}` "
            f"or `python -m services.speech models pull {info.id}`",
            where=f"{info.path} lacks {', '.join(missing)}",
        )
