"""Text entries: recordings of a known text with their transcript and word error rate; only the
owner (or an admin) sees one."""

from __future__ import annotations

from services.speech import validation
from services.speech.rpcs.base import Context, SpeechRpcs, owned_record
from services.speech.text_entries import convert
from services.speech.text_entries import validation as entry_validation
from services.speech.text_entries.records import NEWEST_FIRST, TextEntryRecord
from services.speech.text_entries.store import TextEntryFilter
from voka import authn, pagination, tenancy
from voka.pagination import Page
from voka.speech.v1 import speech_pb2

RESOURCE = "speech.voka.dev/TextEntry"


class TextEntryRpcs(SpeechRpcs):
    """CreateTextEntry, GetTextEntry, ListTextEntries and DeleteTextEntry."""

    async def CreateTextEntry(
        self, request: speech_pb2.CreateTextEntryRequest, context: Context
    ) -> speech_pb2.CreateTextEntryResponse:
        identity = authn.caller()
        validation.check(entry_validation.create(request))
        decoded = await self._decoded(request.body.data)
        record = await self._text_entries.create(identity.subject, request, decoded)
        return speech_pb2.CreateTextEntryResponse(text_entry=convert.text_entry(record))

    async def GetTextEntry(
        self, request: speech_pb2.GetTextEntryRequest, context: Context
    ) -> speech_pb2.GetTextEntryResponse:
        record = await self._text_entry(request.name)
        return speech_pb2.GetTextEntryResponse(text_entry=convert.text_entry(record))

    async def ListTextEntries(
        self, request: speech_pb2.ListTextEntriesRequest, context: Context
    ) -> speech_pb2.ListTextEntriesResponse:
        size, bad_size = pagination.page_size(request.page_size)
        owner = tenancy.list_owner(request.owner)
        query = pagination.fingerprint(owner, request.query, request.language)
        cursor, bad_token = pagination.decode_token(request.page_token, NEWEST_FIRST, query)
        validation.check(bad_size, bad_token, entry_validation.listing(request))
        listing = await self._text_entry_store.page(
            TextEntryFilter(owner, request.query, request.language), Page(size, cursor)
        )
        return speech_pb2.ListTextEntriesResponse(
            text_entries=[convert.text_entry(r) for r in listing.items],
            next_page_token=pagination.next_token(NEWEST_FIRST, query, listing),
            total_size=listing.total,
        )

    async def DeleteTextEntry(
        self, request: speech_pb2.DeleteTextEntryRequest, context: Context
    ) -> speech_pb2.DeleteTextEntryResponse:
        await self._text_entries.delete(await self._text_entry(request.name))
        return speech_pb2.DeleteTextEntryResponse()

    async def _text_entry(self, name: str) -> TextEntryRecord:
        return await owned_record(name, "text-entries", RESOURCE, self._text_entry_store.get)
