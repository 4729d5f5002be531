"""Users' voice samples: validated audio stored under the data directory, metadata in the
database, each user within a quota (count and bytes). Only the owner (or an admin) sees one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from google.api import httpbody_pb2

from services.speech import audio, tenancy, validation
from services.speech.blobs import SAMPLES, Blobs, sha256
from services.speech.recognize import Recognition
from services.speech.records import SampleRecord
from services.speech.sample_store import QuotaExceeded, SampleQuery, SampleStore, Usage
from services.speech.settings import SpeechSettings
from voka import authn, errors, pagination
from voka.errors import FieldViolation, VokaError
from voka.speech.v1 import speech_pb2

RESOURCE = "speech.voka.dev/VoiceSample"
DETECT_SECONDS = 10.0  # audio heard to detect a sample's language when none is given


class Samples:
    """The voice-sample RPCs' work, over the store and the files."""

    def __init__(
        self, store: SampleStore, blobs: Blobs, recognition: Recognition, settings: SpeechSettings
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._recognition = recognition
        self.max_count = settings.speech_sample_max_count
        self.max_bytes = settings.speech_sample_max_bytes
        self._settings = settings

    async def create(
        self, request: speech_pb2.CreateVoiceSampleRequest
    ) -> tuple[SampleRecord, Usage]:
        validation.check(validation.create_sample(request))
        data = request.body.data
        decoded = await self._decode(data)
        language = request.language or await self._detect(decoded)
        now = datetime.now(UTC)
        sample_id = uuid.uuid4().hex
        path = await self._blobs.write(SAMPLES, sample_id, data)
        fallback_name = request.file_name or f"Sample {now:%Y-%m-%d %H:%M}"
        record = SampleRecord(
            id=sample_id, owner=authn.caller().subject,
            display_name=request.display_name or fallback_name,
            language=language,
            description=request.description, file_name=request.file_name,
            content_type=decoded.format.mime_type, size_bytes=len(data), sha256=sha256(data),
            duration_seconds=decoded.duration, sample_rate=decoded.source_sample_rate,
            channel_count=decoded.source_channels, path=path, create_time=now, update_time=now,
        )  # fmt: skip
        try:
            return record, await self._store.add(record, self.max_count, self.max_bytes)
        except QuotaExceeded as exc:
            await self._blobs.delete(path)
            raise self._over_quota(record, exc.usage) from exc
        except BaseException:
            await self._blobs.delete(path)
            raise

    async def _decode(self, data: bytes) -> audio.DecodedAudio:
        try:
            return await asyncio.to_thread(
                audio.decode, data, max_bytes=self._settings.speech_max_upload_bytes,
                max_seconds=self._settings.speech_max_seconds,
            )  # fmt: skip
        except audio.AudioError as exc:
            raise errors.invalid_argument([validation.audio_violation(exc)]) from exc

    async def _detect(self, decoded: audio.DecodedAudio) -> str:
        """The language spoken in the first seconds; "" when no model can tell now."""
        head = decoded.samples[: int(DETECT_SECONDS * decoded.sample_rate)]
        try:
            transcript = await self._recognition.transcript(head, speech_pb2.RecognitionConfig())
        except VokaError:
            return ""
        return transcript.language

    def _over_quota(self, record: SampleRecord, usage: Usage) -> VokaError:
        return errors.quota_exceeded(
            f"voice sample quota exceeded: {usage.count} of {self.max_count} samples, "
            f"{usage.bytes} of {self.max_bytes} bytes used; this one is {record.size_bytes} bytes",
            record.owner,
            "voice samples per user (count and bytes)",
        )

    async def get(self, name: str) -> SampleRecord:
        sample_id, violations = validation.resource_id(name, "samples")
        validation.check(violations)
        record = await self._store.get(sample_id)
        if record is None:
            raise errors.not_found(RESOURCE, name)
        tenancy.check_visible(record.owner, RESOURCE, name)
        return record

    async def usage(self) -> Usage:
        return await self._store.usage(authn.caller().subject)

    async def list(
        self, request: speech_pb2.ListVoiceSamplesRequest
    ) -> tuple[list[SampleRecord], str, int]:
        """A page of samples, the next page's token, and the total."""
        size, bad_size = pagination.page_size(request.page_size)
        owner = tenancy.scope(request.owner)
        query = pagination.fingerprint(owner, request.language)
        after, bad_token = pagination.keyset_cursor(request.page_token, query)
        validation.check(
            bad_size, bad_token, validation.owner_filter(request.owner),
            validation.language(request.language, "language", bcp47=True),
        )  # fmt: skip
        records, total, more = await self._store.page(
            SampleQuery(owner, request.language, after, size)
        )
        last = records[-1] if records and more else None
        token = pagination.keyset_token(query, last.create_time, last.id) if last else ""
        return records, token, total

    async def update(self, request: speech_pb2.UpdateVoiceSampleRequest) -> SampleRecord:
        given = request.voice_sample
        record = await self.get(given.name)
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
        updated = await self._store.update(record.id, {**values, "update_time": datetime.now(UTC)})
        if updated is None:
            raise errors.not_found(RESOURCE, given.name)
        return updated

    async def delete(self, name: str) -> None:
        record = await self.get(name)
        path = await self._store.delete(record.id)
        if path is not None:
            await self._blobs.delete(path)

    async def download(self, name: str) -> httpbody_pb2.HttpBody:
        record = await self.get(name)
        data = await self._blobs.read(record.path)
        return httpbody_pb2.HttpBody(content_type=record.content_type, data=data)
