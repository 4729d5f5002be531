"""The voices synthesis can use, from the voice catalogue (paged by offset: it lives in memory)."""

from __future__ import annotations

from services.speech import convert, validation
from services.speech.rpcs.base import Context, SpeechRpcs, offset_page
from voka import pagination
from voka.speech.v1 import speech_pb2


class VoiceRpcs(SpeechRpcs):
    """ListVoices and GetVoice."""

    async def ListVoices(
        self, request: speech_pb2.ListVoicesRequest, context: Context
    ) -> speech_pb2.ListVoicesResponse:
        size, bad_size = pagination.page_size(request.page_size)
        query = pagination.fingerprint(request.language, request.engine, request.gender)
        offset, bad_token = pagination.offset_of(request.page_token, query)
        validation.check(
            bad_size, bad_token, validation.language(request.language, "language", bcp47=True)
        )
        matching = [
            v
            for v in self._voices.voices(request.language or None)
            if request.engine in (0, convert.VOICE_ENGINES.get(v.engine))
            and request.gender in (0, convert.GENDERS.get(v.gender))
        ]
        page, token = offset_page(matching, offset, size, query)  # only the page is converted
        return speech_pb2.ListVoicesResponse(
            voices=[convert.voice(v) for v in page], next_page_token=token, total_size=len(matching)
        )

    async def GetVoice(
        self, request: speech_pb2.GetVoiceRequest, context: Context
    ) -> speech_pb2.GetVoiceResponse:
        validation.check(validation.resource_id(request.name, "voices")[1])
        return speech_pb2.GetVoiceResponse(voice=convert.voice(self._synthesis.voice(request.name)))
