"""The recognition models: what the models directory holds, per engine, and which are warm."""

from __future__ import annotations

from services.speech import convert, validation
from services.speech.rpcs.base import Context, SpeechRpcs, offset_page
from voka import pagination
from voka.speech.v1 import speech_pb2


class RecognitionModelRpcs(SpeechRpcs):
    """ListRecognitionModels."""

    async def ListRecognitionModels(
        self, request: speech_pb2.ListRecognitionModelsRequest, context: Context
    ) -> speech_pb2.ListRecognitionModelsResponse:
        size, bad_size = pagination.page_size(request.page_size)
        query = pagination.fingerprint(request.engine)
        offset, bad_token = pagination.offset_of(request.page_token, query)
        validation.check(bad_size, bad_token)
        models = [
            convert.recognition_model(m)
            for m in self._recognition.pool.models()
            if request.engine in (0, convert.RECOGNITION_ENGINES.get(m.engine))
        ]
        page, token = offset_page(models, offset, size, query)
        return speech_pb2.ListRecognitionModelsResponse(
            models=page,
            next_page_token=token,
            default_engine=convert.RECOGNITION_ENGINES[self._settings.speech_engine],  # type: ignore[arg-type]
        )
