"""OpenAI's audio API (`/v1/audio/...`): forms and JSON bodies in, OpenAI's bodies out, the
work done by the same `Recognition` and `Synthesis` as SpeechService's Transcribe and
SynthesizeSpeech, so the engines, queues and limits are one.

A streamed transcription yields a `transcript.text.delta` event per segment as the engine
finishes it; everything that can fail on the request (the form, the audio, the model) fails
before the first event, so the client gets an HTTP error status, not a broken stream. A client
that goes away stops the recognition at its next segment.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import numpy as np
from google.api import httpbody_pb2

from services.speech import audio, validation
from services.speech.audio import AudioError
from services.speech.engines.base import Segment
from services.speech.openai import form, params, writers
from services.speech.openai.speech_formats import encoded
from services.speech.recognition import Recognition
from services.speech.rpcs.base import Context
from services.speech.settings import SpeechSettings
from services.speech.synthesis import Synthesis
from services.speech.tts.catalogue import VoiceCatalogue
from voka import errors
from voka.speech.v1 import openai_pb2, openai_pb2_grpc, speech_pb2

HttpBody = httpbody_pb2.HttpBody


class OpenAiAudioRpcs(openai_pb2_grpc.OpenAiAudioServiceServicer):
    """CreateOpenAiTranscription, CreateOpenAiTranslation and CreateOpenAiSpeech."""

    def __init__(
        self,
        *,
        settings: SpeechSettings,
        recognition: Recognition,
        voices: VoiceCatalogue,
        synthesis: Synthesis,
    ) -> None:
        self._settings = settings
        self._recognition = recognition
        self._voices = voices
        self._synthesis = synthesis

    async def CreateOpenAiTranscription(
        self, request: openai_pb2.CreateOpenAiTranscriptionRequest, context: Context
    ) -> AsyncIterator[HttpBody]:
        async for body in self._recognize(request.body, translate=False):
            yield body

    async def CreateOpenAiTranslation(
        self, request: openai_pb2.CreateOpenAiTranslationRequest, context: Context
    ) -> AsyncIterator[HttpBody]:
        async for body in self._recognize(request.body, translate=True):
            yield body

    async def CreateOpenAiSpeech(
        self, request: openai_pb2.CreateOpenAiSpeechRequest, context: Context
    ) -> HttpBody:
        checked = params.speech(
            request.body.data, self._voices.voices(), self._settings.speech_tts_max_chars
        )
        wav, _ = await self._synthesis.speak(checked.request)
        data, mime = await asyncio.to_thread(encoded, wav, checked.response_format)
        return HttpBody(content_type=mime, data=data)

    async def _recognize(self, body: HttpBody, *, translate: bool) -> AsyncIterator[HttpBody]:
        limit = self._settings.speech_max_upload_bytes
        parsed = form.parse(body.content_type, body.data, max_file_bytes=limit)
        checked = params.transcription(parsed, self._models(), translate=translate)
        samples = await self._decoded(checked.audio)
        if checked.stream:
            async for event in self._events(samples, checked.config):
                yield HttpBody(content_type=writers.EVENT_STREAM, data=event)
            return
        result = await self._recognition.result(samples, checked.config)
        data, mime = writers.WRITERS[checked.response_format](result, checked.words)
        yield HttpBody(content_type=mime, data=data)

    async def _events(
        self, samples: np.ndarray, config: speech_pb2.RecognitionConfig
    ) -> AsyncIterator[bytes]:
        """Delta events as segments are recognised, then the done event."""
        segments: asyncio.Queue[Segment | None] = asyncio.Queue()
        cancel = threading.Event()
        running = asyncio.create_task(
            self._recognition.result(samples, config, segments.put_nowait, cancel)
        )
        running.add_done_callback(lambda _: segments.put_nowait(None))
        started = False
        try:
            while (segment := await segments.get()) is not None:
                delta = segment.text if started else segment.text.lstrip()
                if delta:
                    started = True
                    yield writers.delta_event(delta)
            result = await running
        finally:
            if not running.done():  # the client left: stop at the next segment
                cancel.set()
                running.add_done_callback(lambda task: task.cancelled() or task.exception())
        yield writers.done_event(result.text)

    async def _decoded(self, data: bytes) -> np.ndarray:
        """The `file` part decoded in full, off the event loop, within Transcribe's limits."""
        try:
            decoded = await asyncio.to_thread(
                audio.decode, data, max_bytes=self._settings.speech_max_upload_bytes,
                max_seconds=self._settings.speech_max_seconds,
            )  # fmt: skip
        except AudioError as exc:
            raise errors.invalid_argument([validation.audio_violation(exc, "file")]) from exc
        return decoded.samples

    def _models(self) -> params.RecognitionModels:
        catalogue = self._recognition.pool.catalogue
        return params.RecognitionModels(
            self._recognition.pool.models(), catalogue.default_engine, catalogue.default_model
        )
