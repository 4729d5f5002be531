"""whisper.cpp through `pywhispercpp`: loads a ggml model file and transcribes.

Why pywhispercpp and not `whisper-cpp-python` (the binding the design first named): the latter
(0.2.0) bundles a whisper.cpp too old for current ggml files and builds only from source with a
CMake policy override, pulling librosa/numba/scikit-learn; pywhispercpp ships a prebuilt wheel
with libwhisper 1.8.5. Neither raises on a missing or corrupt model (pywhispercpp would even try
to download a name it does not find), so the file is checked here before it is handed over.

One whisper.cpp context is not safe to share between threads: a lock serialises calls.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import _pywhispercpp as pw
import numpy as np
from pywhispercpp.model import Model
from pywhispercpp.model import Segment as CppSegment

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
from services.speech.ggml import GgmlError, read_hparams

SAMPLE_RATE = 16_000


class WhisperCppRecognizer:
    """One ggml model in one whisper.cpp context."""

    def __init__(self, info: ModelInfo, *, threads: int = 0) -> None:
        path = Path(info.path)
        if not path.is_file():
            raise ModelMissing(
                info.id, f"run `python -m services.speech models convert-ggml {info.id}`",
                where=f"no ggml file {path}",
            )  # fmt: skip
        try:
            read_hparams(path)
        except GgmlError as exc:
            raise ModelCorrupt(info.id, str(exc)) from exc
        self.info = info
        self._model = Model(
            str(path),
            redirect_whispercpp_logs_to=None,
            print_progress=False,
            n_threads=threads if threads > 0 else min(4, os.cpu_count() or 1),
        )
        self._ctx: Any = cast(Any, self._model)._ctx  # the stubs hide the C context
        if self._ctx is None:
            raise ModelCorrupt(info.id, f"whisper.cpp could not load {path}")
        self._lock = threading.Lock()

    def transcribe(
        self,
        audio: np.ndarray,
        options: TranscribeOptions,
        on_segment: SegmentCallback | None = None,
    ) -> Transcript:
        check_options(self.info, options)
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        with self._lock:
            language, probability = self._language(audio, options)
            relay = _Relay(on_segment)
            raw = self._model.transcribe(
                audio,
                new_segment_callback=relay,
                abort_callback=relay.aborted,
                extract_probability=True,
                language=language,
                translate=options.translate,
                initial_prompt=options.initial_prompt or "",
                token_timestamps=options.word_timestamps,
                no_context=True,
            )
            relay.raise_if_failed()
            segments = tuple(
                replace(_segment(s), words=self._words(i) if options.word_timestamps else ())
                for i, s in enumerate(raw)
            )
        return Transcript(
            text=join_segments(segments),
            language=language,
            language_probability=probability,
            duration=audio.size / SAMPLE_RATE,
            segments=segments,
        )

    def _words(self, segment: int) -> tuple[Word, ...]:
        """The segment's text tokens joined into words (a token with a leading space starts
        one), timed from whisper.cpp's token timestamps."""
        ctx = self._ctx
        eot = pw.whisper_token_eot(ctx)
        words: list[Word] = []
        for j in range(pw.whisper_full_n_tokens(ctx, segment)):
            data = pw.whisper_full_get_token_data(ctx, segment, j)
            if data.id >= eot:
                continue
            text = pw.whisper_full_get_token_text(ctx, segment, j)
            text = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            start, end = data.t0 / 100.0, data.t1 / 100.0
            if words and not text.startswith(" "):
                last = words[-1]
                words[-1] = Word(last.text + text, last.start, end, min(last.probability, data.p))
            else:
                words.append(Word(text, start, end, data.p))
        return tuple(words)

    def _language(self, audio: np.ndarray, options: TranscribeOptions) -> tuple[str, float]:
        """The hint (probability 1), English for English-only models, else detected."""
        if options.language:
            return options.language, 1.0
        if not self.info.multilingual:
            return "en", 1.0
        (language, probability), _ = self._model.auto_detect_language(audio)
        return language, float(probability)


class _Relay:
    """Hands whisper.cpp's new segments to the caller's callback; an exception there (a
    cancelled job) aborts the decoding and is raised after, instead of crossing into C++."""

    def __init__(self, on_segment: SegmentCallback | None) -> None:
        self._on_segment = on_segment
        self._error: BaseException | None = None

    def __call__(self, raw: CppSegment) -> None:
        if self._on_segment is None or self._error is not None:
            return
        try:
            self._on_segment(_segment(raw))
        except Exception as exc:
            self._error = exc

    def aborted(self) -> bool:
        return self._error is not None

    def raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error


def _segment(raw: CppSegment) -> Segment:
    """whisper.cpp times are in 10 ms ticks; its probability is a geometric mean of tokens."""
    probability = raw.probability
    logprob = math.log(probability) if probability and not math.isnan(probability) else None
    return Segment(
        start=raw.t0 / 100.0,
        end=raw.t1 / 100.0,
        text=" " + raw.text if raw.text else "",
        avg_logprob=logprob,
    )
