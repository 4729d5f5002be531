"""Recognition within the request: a whole upload (Transcribe) or a live stream
(StreamingRecognize)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.speech import validation
from services.speech.recognition_stream import StreamLimits, recognize_stream
from services.speech.rpcs.base import Context, SpeechRpcs
from voka.speech.v1 import speech_pb2


class RecognitionRpcs(SpeechRpcs):
    """Transcribe and StreamingRecognize."""

    async def Transcribe(
        self, request: speech_pb2.TranscribeRequest, context: Context
    ) -> speech_pb2.TranscribeResponse:
        validation.check(validation.config(request.config))
        decoded = await self._decoded(request.body.data)
        result = await self._recognition.result(decoded.samples, request.config)
        return speech_pb2.TranscribeResponse(result=result, content_type=decoded.format.mime_type)

    async def StreamingRecognize(
        self,
        request_iterator: AsyncIterator[speech_pb2.StreamingRecognizeRequest],
        context: Context,
    ) -> AsyncIterator[speech_pb2.StreamingRecognizeResponse]:
        limits = StreamLimits.from_settings(self._settings)
        async for response in recognize_stream(request_iterator, self._recognition, limits):
            yield response
