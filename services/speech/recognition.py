"""Recognition as the service uses it: warm models, inference in worker threads, bounded queue.

The event loop never runs a model: each recognition goes to a worker thread through
`BoundedWorkers`, which refuses work beyond the queue with RESOURCE_EXHAUSTED. A model that is
not installed is refused before queueing (ModelMissing), so a client learns at once what to
install. Loading a cold model happens in the worker too, so it never blocks the loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import numpy as np

from services.speech.engines.base import (
    ModelInfo,
    Segment,
    TranscribeOptions,
    Transcript,
)
from services.speech.models import ModelCatalogue
from services.speech.workers import BoundedWorkers


class Cancelled(Exception):
    """The caller asked a running recognition to stop (a cancelled transcription job)."""


class RecognitionPool:
    """Models from a catalogue, run by `workers` threads with at most `queue_size` waiting."""

    def __init__(self, catalogue: ModelCatalogue, *, queue_size: int, workers: int = 1) -> None:
        self.catalogue = catalogue
        self._workers = BoundedWorkers("recognition", workers=workers, queue_size=queue_size)

    def models(self) -> list[ModelInfo]:
        """Every model the catalogue knows, with `loaded` telling which are warm."""
        return self.catalogue.models()

    def resolve(self, model_id: str | None, engine: str | None = None) -> ModelInfo:
        """The installed model a request would run on; ModelMissing when it is not there."""
        return self.catalogue.info(model_id, engine)

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
        """Recognise `audio` with the model (None: the default) in a worker thread.

        `on_segment` is called on the event loop for each segment as it is decoded. Setting
        `cancel` stops the recognition at its next segment with Cancelled.
        """
        info = self.resolve(model_id, engine)
        relay = _segment_relay(asyncio.get_running_loop(), on_segment, cancel)
        return await self._workers.run(self._run, info, audio, options, relay)

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
        self._workers.close()


def _segment_relay(
    loop: asyncio.AbstractEventLoop,
    on_segment: Callable[[Segment], None] | None,
    cancel: threading.Event | None,
) -> Callable[[Segment], None]:
    """Runs in the worker: stops on cancel, else hands the segment to the loop."""

    def relay(segment: Segment) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled("the recognition was cancelled")
        if on_segment is not None:
            loop.call_soon_threadsafe(on_segment, segment)

    return relay
