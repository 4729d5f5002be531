"""Voice samples: recordings of a user's own voice, each user within a quota; only the owner
(or an admin) sees one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from google.api import httpbody_pb2

from services.speech import convert, validation
from services.speech.records import VoiceSampleRecord
from services.speech.rpcs.base import Context, SpeechRpcs, owned_record
from services.speech.voice_sample_store import NEWEST_FIRST, Usage, VoiceSampleFilter
from voka import authn, errors, pagination, tenancy
from voka.errors import FieldViolation
from voka.pagination import Page
from voka.speech.v1 import speech_pb2

RESOURCE = "speech.voka.dev/VoiceSample"


class VoiceSampleRpcs(SpeechRpcs):
    """CreateVoiceSample, GetVoiceSample, ListVoiceSamples, UpdateVoiceSample,
    DeleteVoiceSample and DownloadVoiceSample."""

    async def CreateVoiceSample(
        self, request: speech_pb2.CreateVoiceSampleRequest, context: Context
    ) -> speech_pb2.CreateVoiceSampleResponse:
        validation.check(validation.create_sample(request))
        decoded = await self._decoded(request.body.data)
        record, usage = await self._voice_samples.create(authn.caller().subject, request, decoded)
        return speech_pb2.CreateVoiceSampleResponse(
            voice_sample=convert.voice_sample(record), quota=self._quota(usage)
        )

    async def GetVoiceSample(
        self, request: speech_pb2.GetVoiceSampleRequest, context: Context
    ) -> speech_pb2.GetVoiceSampleResponse:
        record = await self._voice_sample(request.name)
        return speech_pb2.GetVoiceSampleResponse(voice_sample=convert.voice_sample(record))

    async def ListVoiceSamples(
        self, request: speech_pb2.ListVoiceSamplesRequest, context: Context
    ) -> speech_pb2.ListVoiceSamplesResponse:
        size, bad_size = pagination.page_size(request.page_size)
        owner = tenancy.list_owner(request.owner)
        query = pagination.fingerprint(owner, request.language)
        cursor, bad_token = pagination.decode_token(request.page_token, NEWEST_FIRST, query)
        validation.check(
            bad_size, bad_token, validation.owner(request.owner),
            validation.language(request.language, "language", bcp47=True),
        )  # fmt: skip
        listing = await self._voice_sample_store.page(
            VoiceSampleFilter(owner, request.language), Page(size, cursor)
        )
        usage = await self._voice_sample_store.usage(authn.caller().subject)
        return speech_pb2.ListVoiceSamplesResponse(
            voice_samples=[convert.voice_sample(r) for r in listing.items],
            next_page_token=pagination.next_token(NEWEST_FIRST, query, listing),
            total_size=listing.total, quota=self._quota(usage),
        )  # fmt: skip

    async def UpdateVoiceSample(
        self, request: speech_pb2.UpdateVoiceSampleRequest, context: Context
    ) -> speech_pb2.UpdateVoiceSampleResponse:
        given = request.voice_sample
        record = await self._voice_sample(given.name)
        paths = list(request.update_mask.paths) or [
            f for f in validation.SAMPLE_FIELDS if getattr(given, f)
        ]
        bad_name = not given.display_name.strip() and "display_name" in paths
        validation.check(
            validation.update_mask(request.update_mask.paths),
            validation.sample_fields(given, "voice_sample."),
            [FieldViolation("voice_sample.display_name", "must not be empty")] if bad_name else [],
        )  # fmt: skip
        values: dict[str, Any] = {p: getattr(given, p) for p in paths}
        updated = await self._voice_sample_store.update(
            record.id, {**values, "update_time": datetime.now(UTC)}
        )
        if updated is None:
            raise errors.not_found(RESOURCE, given.name)
        return speech_pb2.UpdateVoiceSampleResponse(voice_sample=convert.voice_sample(updated))

    async def DeleteVoiceSample(
        self, request: speech_pb2.DeleteVoiceSampleRequest, context: Context
    ) -> speech_pb2.DeleteVoiceSampleResponse:
        await self._voice_samples.delete(await self._voice_sample(request.name))
        return speech_pb2.DeleteVoiceSampleResponse()

    async def DownloadVoiceSample(
        self, request: speech_pb2.DownloadVoiceSampleRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        record = await self._voice_sample(request.name)
        data = await self._voice_samples.audio(record)
        return httpbody_pb2.HttpBody(content_type=record.content_type, data=data)

    async def _voice_sample(self, name: str) -> VoiceSampleRecord:
        return await owned_record(name, "samples", RESOURCE, self._voice_sample_store.get)

    def _quota(self, usage: Usage) -> speech_pb2.VoiceSampleQuota:
        return convert.quota(usage, self._voice_samples.max_count, self._voice_samples.max_bytes)
