"""One recognition as the contract asks for it: a `RecognitionConfig` and 16 kHz audio in, a
`TranscriptionResult` out. Transcribe, the job worker and streams all go through here, so the
options, the error mapping and the timing are the same everywhere.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from services.speech import convert
from services.speech.engines.base import (
    ModelCorrupt,
    ModelMissing,
    SegmentCallback,
    TranscribeOptions,
    Transcript,
    UnsupportedOption,
)
from services.speech.models import ModelCatalogue
from services.speech.recognition import RecognitionPool
from services.speech.settings import SpeechSettings
from voka import errors
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2

S = speech_pb2


def options(config: speech_pb2.RecognitionConfig) -> TranscribeOptions:
    return TranscribeOptions(
        language=config.language or None,
        translate=config.task == S.RECOGNITION_TASK_TRANSLATE,
        initial_prompt=config.initial_prompt or None,
        word_timestamps=config.word_timestamps,
        vad=config.vad_filter,
        beam_size=config.beam_size or 1,
    )


class Recognition:
    """The pool behind the contract's vocabulary; engine errors become statuses."""

    def __init__(self, pool: RecognitionPool) -> None:
        self.pool = pool

    @classmethod
    def from_settings(cls, settings: SpeechSettings) -> Recognition:
        """Models from the configured directory, warm once used, behind the bounded pool."""
        catalogue = ModelCatalogue.from_settings(settings)
        return cls(RecognitionPool(catalogue, queue_size=settings.speech_queue_size,
                                   workers=settings.speech_workers))  # fmt: skip

    async def transcript(
        self,
        audio: np.ndarray,
        config: speech_pb2.RecognitionConfig,
        on_segment: SegmentCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        """`on_segment` runs on the event loop; setting `cancel` stops it with Cancelled."""
        engine = convert.ENGINE_NAMES.get(config.engine)
        try:
            return await self.pool.transcribe(
                config.model or None, audio, options(config), on_segment,
                engine=engine, cancel=cancel,
            )  # fmt: skip
        except ModelMissing as exc:
            raise errors.failed_precondition(str(exc), "MODEL_NOT_INSTALLED", exc.model) from exc
        except ModelCorrupt as exc:
            raise errors.failed_precondition(str(exc), "MODEL_CORRUPT", exc.model) from exc
        except UnsupportedOption as exc:
            raise errors.invalid_argument([FieldViolation(exc.field, str(exc))]) from exc

    async def result(
        self,
        audio: np.ndarray,
        config: speech_pb2.RecognitionConfig,
        on_segment: SegmentCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> speech_pb2.TranscriptionResult:
        started = time.perf_counter()
        transcript = await self.transcript(audio, config, on_segment, cancel)
        model = self.pool.resolve(config.model or None, convert.ENGINE_NAMES.get(config.engine))
        return convert.result(transcript, model, config.task, time.perf_counter() - started)
