"""Recognition as the service uses it: the contract's `RecognitionConfig` in, a transcript or a
`TranscriptionResult` out, with the model run off the event loop.

Transcribe, streams, voice samples and the job worker all go through `Recognition`, so the
options, the error mapping and the timing are the same everywhere. Under it, `RecognitionPool`
runs each recognition in a thread of a `BoundedThreadPool`, which refuses work beyond its queue
with RESOURCE_EXHAUSTED. A model that is not installed is refused before queueing
(ModelMissing), so a client learns at once what to install; a cold model loads in the thread
too, so loading never blocks the loop. What a model's loader says (its paths, its library's
words) goes to the log; the caller learns which model failed and the command that repairs it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable

import numpy as np

from services.speech import convert
from services.speech.engines.base import (
    ModelCorrupt,
    ModelInfo,
    ModelMissing,
    Segment,
    SegmentCallback,
    TranscribeOptions,
    Transcript,
    UnsupportedOption,
)
from services.speech.models import ModelCatalogue
from services.speech.settings import SpeechSettings
from voka import errors
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2
from voka.thread_pool import BoundedThreadPool

log = logging.getLogger(__name__)


class Cancelled(Exception):
    """The caller asked a running recognition to stop (a cancelled transcription job)."""


class RecognitionPool:
    """Models from a catalogue, run by `workers` threads with at most `queue_size` waiting."""

    def __init__(self, catalogue: ModelCatalogue, *, queue_size: int, workers: int = 1) -> None:
        self.catalogue = catalogue
        self._threads = BoundedThreadPool("recognition", workers=workers, queue_size=queue_size)

    def models(self) -> list[ModelInfo]:
        """Every model the catalogue knows (its last scan), `loaded` telling which are warm."""
        return self.catalogue.listed()

    async def resolve(self, model_id: str | None, engine: str | None = None) -> ModelInfo:
        """The installed model a request would run on; ModelMissing when it is not there. From
        the catalogue's last scan; a model that scan did not find is looked for on the disk,
        off the event loop (installed since, or missing)."""
        listed = self.catalogue.listed_info(model_id, engine)
        if listed is not None:
            return listed
        return await asyncio.to_thread(self.catalogue.info, model_id, engine)

    async def transcribe(
        self,
        model_id: str | None,
        audio: np.ndarray,
        options: TranscribeOptions,
        on_segment: Callable[[Segment], None] | None = None,
        *,
        engine: str | None = None,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        """Recognise `audio` with the model (None: the default) in a pool thread.

        `on_segment` is called on the event loop for each segment as it is decoded. Setting
        `cancel` stops the recognition at its next segment with Cancelled.
        """
        info = await self.resolve(model_id, engine)
        relay = _segment_relay(asyncio.get_running_loop(), on_segment, cancel)
        return await self._threads.run(self._run, info, audio, options, relay)

    def _run(
        self,
        info: ModelInfo,
        audio: np.ndarray,
        options: TranscribeOptions,
        relay: Callable[[Segment], None],
    ) -> Transcript:
        recognizer = self.catalogue.get(info.id, info.engine)
        return recognizer.transcribe(audio, options, relay)

    def close(self) -> None:
        self._threads.close()


def _segment_relay(
    loop: asyncio.AbstractEventLoop,
    on_segment: Callable[[Segment], None] | None,
    cancel: threading.Event | None,
) -> Callable[[Segment], None]:
    """Runs in the pool thread: stops on cancel, else hands the segment to the loop."""

    def relay(segment: Segment) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the recognition was cancelled")
        if on_segment is not None:
            loop.call_soon_threadsafe(on_segment, segment)

    return relay


def options(config: speech_pb2.RecognitionConfig) -> TranscribeOptions:
    return TranscribeOptions(
        language=config.language or None,
        translate=config.task == speech_pb2.RECOGNITION_TASK_TRANSLATE,
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
            if exc.where:  # listed as installed, yet not all there
                log.warning("recognition model %s: %s", exc.model, exc.where)
            raise errors.failed_precondition(str(exc), "MODEL_NOT_INSTALLED", exc.model) from exc
        except ModelCorrupt as exc:
            log.error("recognition model %s cannot be loaded: %s", exc.model, exc.reason)
            hint = self.pool.catalogue.install_hint(exc.model, engine)
            message = f"recognition model {exc.model!r} cannot be loaded (damaged files); {hint}"
            raise errors.failed_precondition(message, "MODEL_CORRUPT", exc.model) from exc
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
        return await self.as_result(transcript, config, time.perf_counter() - started)

    async def as_result(
        self, transcript: Transcript, config: speech_pb2.RecognitionConfig, seconds: float
    ) -> speech_pb2.TranscriptionResult:
        """A transcript (one recognition's or chunks' joined) as the contract's result, with
        the model it ran on and the `seconds` it took."""
        engine = convert.ENGINE_NAMES.get(config.engine)
        model = await self.pool.resolve(config.model or None, engine)
        return convert.result(transcript, model, config.task, seconds)
