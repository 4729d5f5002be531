"""Speech from text, answered as the audio itself (`google.api.HttpBody`)."""

from __future__ import annotations

from google.api import httpbody_pb2

from services.speech import validation
from services.speech.rpcs.base import Context, SpeechRpcs
from voka.speech.v1 import speech_pb2


class SynthesisRpcs(SpeechRpcs):
    """SynthesizeSpeech."""

    async def SynthesizeSpeech(
        self, request: speech_pb2.SynthesizeSpeechRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        validation.check(validation.synthesize(request, self._settings.speech_tts_max_chars))
        data, mime = await self._synthesis.speak(request)
        return httpbody_pb2.HttpBody(content_type=mime, data=data)
