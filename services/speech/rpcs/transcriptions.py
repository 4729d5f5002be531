"""Asynchronous transcriptions: long uploads queued for the worker, then read, listed,
cancelled, deleted and watched by their owner (or an admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.speech import convert, validation
from services.speech.records import TranscriptionRecord
from services.speech.rpcs.base import Context, SpeechRpcs, owned_record
from services.speech.transcription_store import NEWEST_FIRST, TranscriptionFilter
from voka import authn, pagination, tenancy
from voka.pagination import Page
from voka.speech.v1 import speech_pb2

RESOURCE = "speech.voka.dev/Transcription"
BASIC = speech_pb2.TRANSCRIPTION_VIEW_BASIC
FULL = speech_pb2.TRANSCRIPTION_VIEW_FULL


class TranscriptionRpcs(SpeechRpcs):
    """CreateTranscription, GetTranscription, ListTranscriptions, CancelTranscription,
    DeleteTranscription and WatchTranscription."""

    async def CreateTranscription(
        self, request: speech_pb2.CreateTranscriptionRequest, context: Context
    ) -> speech_pb2.CreateTranscriptionResponse:
        validation.check(validation.create_transcription(request))
        # The format, size and a header's claims only: the worker decodes it.
        fmt = validation.checked_upload(
            request.body.data, max_bytes=self._settings.speech_max_upload_bytes,
            max_seconds=self._settings.speech_job_max_seconds,
        )  # fmt: skip
        record = await self._transcriptions.submit(authn.caller(), request, fmt)
        return speech_pb2.CreateTranscriptionResponse(
            transcription=convert.transcription(record, FULL)
        )

    async def GetTranscription(
        self, request: speech_pb2.GetTranscriptionRequest, context: Context
    ) -> speech_pb2.GetTranscriptionResponse:
        record = await self._transcription(request.name)
        return speech_pb2.GetTranscriptionResponse(
            transcription=convert.transcription(record, request.view or FULL)
        )

    async def ListTranscriptions(
        self, request: speech_pb2.ListTranscriptionsRequest, context: Context
    ) -> speech_pb2.ListTranscriptionsResponse:
        size, bad_size = pagination.page_size(request.page_size)
        owner = tenancy.list_owner(request.owner)
        query = pagination.fingerprint(owner, request.state, request.external_reference)
        cursor, bad_token = pagination.decode_token(request.page_token, NEWEST_FIRST, query)
        validation.check(validation.list_transcriptions(request), bad_size, bad_token)
        listing = await self._transcription_store.page(
            TranscriptionFilter(owner, request.state, request.external_reference),
            Page(size, cursor),
        )
        view = request.view or BASIC
        return speech_pb2.ListTranscriptionsResponse(
            transcriptions=[convert.transcription(r, view) for r in listing.items],
            next_page_token=pagination.next_token(NEWEST_FIRST, query, listing),
            total_size=listing.total,
        )

    async def CancelTranscription(
        self, request: speech_pb2.CancelTranscriptionRequest, context: Context
    ) -> speech_pb2.CancelTranscriptionResponse:
        record = await self._transcription(request.name)
        requester = authn.caller().subject
        cancelled = await self._transcriptions.cancel(record, requester, request.reason)
        if cancelled is None:  # it reached a final state meanwhile
            cancelled = await self._transcription(request.name)
        return speech_pb2.CancelTranscriptionResponse(
            transcription=convert.transcription(cancelled, BASIC)
        )

    async def DeleteTranscription(
        self, request: speech_pb2.DeleteTranscriptionRequest, context: Context
    ) -> speech_pb2.DeleteTranscriptionResponse:
        await self._transcriptions.delete(await self._transcription(request.name))
        return speech_pb2.DeleteTranscriptionResponse()

    async def WatchTranscription(
        self, request: speech_pb2.WatchTranscriptionRequest, context: Context
    ) -> AsyncIterator[speech_pb2.WatchTranscriptionResponse]:
        view = request.view or BASIC
        async for record in self._transcriptions.watch(await self._transcription(request.name)):
            shown = FULL if record.final else view
            yield speech_pb2.WatchTranscriptionResponse(
                transcription=convert.transcription(record, shown)
            )

    async def _transcription(self, name: str) -> TranscriptionRecord:
        return await owned_record(name, "transcriptions", RESOURCE, self._transcription_store.get)
