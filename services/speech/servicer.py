"""The SpeechService RPCs: each checks its request and the caller, then hands the work to the
part that does it (recognition, jobs, streams, synthesis, samples)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.api import httpbody_pb2

from services.speech import audio, convert, validation
from services.speech.jobs import Jobs
from services.speech.recognize import Recognition
from services.speech.samples import Samples
from services.speech.settings import SpeechSettings
from services.speech.streaming import recognize_stream
from services.speech.synthesis import Synthesis
from voka import errors, pagination
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
S = speech_pb2


class SpeechServicer(speech_pb2_grpc.SpeechServiceServicer):
    def __init__(
        self,
        recognition: Recognition,
        jobs: Jobs,
        synthesis: Synthesis,
        samples: Samples,
        settings: SpeechSettings,
    ) -> None:
        self._recognition = recognition
        self._jobs = jobs
        self._synthesis = synthesis
        self._samples = samples
        self._settings = settings

    # --- recognition -------------------------------------------------------------------

    async def Transcribe(
        self, request: speech_pb2.TranscribeRequest, context: Context
    ) -> speech_pb2.TranscribeResponse:
        validation.check(validation.config(request.config))
        try:
            decoded = await asyncio.to_thread(
                audio.decode, request.body.data,
                max_bytes=self._settings.speech_max_upload_bytes,
                max_seconds=self._settings.speech_max_seconds,
            )  # fmt: skip
        except audio.AudioError as exc:
            raise errors.invalid_argument([validation.audio_violation(exc)]) from exc
        result = await self._recognition.result(decoded.samples, request.config)
        return S.TranscribeResponse(result=result, content_type=decoded.format.mime_type)

    async def StreamingRecognize(
        self,
        request_iterator: AsyncIterator[speech_pb2.StreamingRecognizeRequest],
        context: Context,
    ) -> AsyncIterator[speech_pb2.StreamingRecognizeResponse]:
        async for response in recognize_stream(
            request_iterator, self._recognition,
            self._settings.speech_max_upload_bytes, self._settings.speech_max_seconds,
        ):  # fmt: skip
            yield response

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
        end = offset + size
        return S.ListRecognitionModelsResponse(
            models=models[offset:end],
            next_page_token=pagination.offset_token(query, end) if end < len(models) else "",
            default_engine=convert.RECOGNITION_ENGINES[self._settings.speech_engine],  # type: ignore[arg-type]
        )

    # --- asynchronous transcriptions ---------------------------------------------------

    async def CreateTranscription(
        self, request: speech_pb2.CreateTranscriptionRequest, context: Context
    ) -> speech_pb2.CreateTranscriptionResponse:
        record = await self._jobs.create(request)
        return S.CreateTranscriptionResponse(
            transcription=convert.transcription(record, S.TRANSCRIPTION_VIEW_FULL)
        )

    async def GetTranscription(
        self, request: speech_pb2.GetTranscriptionRequest, context: Context
    ) -> speech_pb2.GetTranscriptionResponse:
        record = await self._jobs.get(request.name)
        view = request.view or S.TRANSCRIPTION_VIEW_FULL
        return S.GetTranscriptionResponse(transcription=convert.transcription(record, view))

    async def ListTranscriptions(
        self, request: speech_pb2.ListTranscriptionsRequest, context: Context
    ) -> speech_pb2.ListTranscriptionsResponse:
        return await self._jobs.list(request)

    async def CancelTranscription(
        self, request: speech_pb2.CancelTranscriptionRequest, context: Context
    ) -> speech_pb2.CancelTranscriptionResponse:
        record = await self._jobs.cancel(request.name, request.reason)
        return S.CancelTranscriptionResponse(
            transcription=convert.transcription(record, S.TRANSCRIPTION_VIEW_BASIC)
        )

    async def DeleteTranscription(
        self, request: speech_pb2.DeleteTranscriptionRequest, context: Context
    ) -> speech_pb2.DeleteTranscriptionResponse:
        await self._jobs.delete(request.name)
        return S.DeleteTranscriptionResponse()

    async def WatchTranscription(
        self, request: speech_pb2.WatchTranscriptionRequest, context: Context
    ) -> AsyncIterator[speech_pb2.WatchTranscriptionResponse]:
        view = request.view or S.TRANSCRIPTION_VIEW_BASIC
        async for record in self._jobs.watch(request.name):
            shown = S.TRANSCRIPTION_VIEW_FULL if record.final else view
            yield S.WatchTranscriptionResponse(transcription=convert.transcription(record, shown))

    # --- synthesis ---------------------------------------------------------------------

    async def SynthesizeSpeech(
        self, request: speech_pb2.SynthesizeSpeechRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        return await self._synthesis.speak(request)

    async def ListVoices(
        self, request: speech_pb2.ListVoicesRequest, context: Context
    ) -> speech_pb2.ListVoicesResponse:
        return self._synthesis.list(request)

    async def GetVoice(
        self, request: speech_pb2.GetVoiceRequest, context: Context
    ) -> speech_pb2.GetVoiceResponse:
        return S.GetVoiceResponse(voice=self._synthesis.get(request.name))

    # --- voice samples -----------------------------------------------------------------

    async def CreateVoiceSample(
        self, request: speech_pb2.CreateVoiceSampleRequest, context: Context
    ) -> speech_pb2.CreateVoiceSampleResponse:
        record, usage = await self._samples.create(request)
        return S.CreateVoiceSampleResponse(voice_sample=convert.sample(record),
                                           quota=self._quota(usage))  # fmt: skip

    async def GetVoiceSample(
        self, request: speech_pb2.GetVoiceSampleRequest, context: Context
    ) -> speech_pb2.GetVoiceSampleResponse:
        record = await self._samples.get(request.name)
        return S.GetVoiceSampleResponse(voice_sample=convert.sample(record))

    async def ListVoiceSamples(
        self, request: speech_pb2.ListVoiceSamplesRequest, context: Context
    ) -> speech_pb2.ListVoiceSamplesResponse:
        records, token, total = await self._samples.list(request)
        return S.ListVoiceSamplesResponse(
            voice_samples=[convert.sample(r) for r in records], next_page_token=token,
            total_size=total, quota=self._quota(await self._samples.usage()),
        )  # fmt: skip

    async def UpdateVoiceSample(
        self, request: speech_pb2.UpdateVoiceSampleRequest, context: Context
    ) -> speech_pb2.UpdateVoiceSampleResponse:
        record = await self._samples.update(request)
        return S.UpdateVoiceSampleResponse(voice_sample=convert.sample(record))

    async def DeleteVoiceSample(
        self, request: speech_pb2.DeleteVoiceSampleRequest, context: Context
    ) -> speech_pb2.DeleteVoiceSampleResponse:
        await self._samples.delete(request.name)
        return S.DeleteVoiceSampleResponse()

    async def DownloadVoiceSample(
        self, request: speech_pb2.DownloadVoiceSampleRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        return await self._samples.download(request.name)

    def _quota(self, usage: Any) -> speech_pb2.VoiceSampleQuota:
        return convert.quota(usage, self._samples.max_count, self._samples.max_bytes)
