"""Asynchronous transcriptions: long uploads queued for the worker, then read, listed,
cancelled, deleted and watched by their owner (or an admin)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.speech import convert, validation
from services.speech.records import TranscriptionRecord
from services.speech.rpcs.base import Context, SpeechRpcs, owned_record
from services.speech.transcription_store import NEWEST_FIRST, TranscriptionFilter
from voka import authn, errors, pagination, tenancy, uploads
from voka.errors import FieldViolation
from voka.pagination import Page
from voka.speech.v1 import speech_pb2

RESOURCE = "speech.voka.dev/Transcription"
BASIC = speech_pb2.TRANSCRIPTION_VIEW_BASIC
FULL = speech_pb2.TRANSCRIPTION_VIEW_FULL


class TranscriptionRpcs(SpeechRpcs):
    """CreateTranscription, UploadTranscription, GetTranscription, ListTranscriptions,
    CancelTranscription, DeleteTranscription and WatchTranscription."""

    async def CreateTranscription(
        self, request: speech_pb2.CreateTranscriptionRequest, context: Context
    ) -> speech_pb2.CreateTranscriptionResponse:
        validation.check(validation.create_transcription(request))
        caller = authn.caller()
        # The format, size and a header's claims only: the worker decodes it.
        if request.audio_uri:
            upload = await self._uploads.from_object(caller, request.audio_uri)
        else:
            upload = await self._uploads.from_body(request.body.data)
        record = await self._transcriptions.submit(caller, request, upload)
        return speech_pb2.CreateTranscriptionResponse(
            transcription=convert.transcription(record, FULL)
        )

    async def UploadTranscription(
        self, request_iterator: AsyncIterator[speech_pb2.UploadTranscriptionRequest],
        context: Context,
    ) -> speech_pb2.UploadTranscriptionResponse:  # fmt: skip
        """The options are checked on the first message, before any audio is stored; the
        audio goes to disk as it comes (`uploads`), then the job is CreateTranscription's."""
        caller = authn.caller()
        stream = aiter(request_iterator)
        first = await anext(stream, None)
        if first is None:
            raise errors.invalid_argument([FieldViolation("body", "the stream carried no audio")])
        request = speech_pb2.CreateTranscriptionRequest(
            config=first.config, file_name=first.file_name,
            external_reference=first.external_reference, request_id=first.request_id,
        )  # fmt: skip
        validation.check(validation.create_transcription(request))
        upload = await self._uploads.from_stream(uploads.bodies(first, stream))
        record = await self._transcriptions.submit(caller, request, upload)
        return speech_pb2.UploadTranscriptionResponse(
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
