"""Users' voice samples: the audio under the data directory, the metadata in the database, each
owner within a quota (count and bytes). The row and the file are written and removed together
here, so neither outlives the other.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.speech import audio
from services.speech.blobs import SAMPLES, Blobs, sha256
from services.speech.recognition import Recognition
from services.speech.records import VoiceSampleRecord
from services.speech.settings import SpeechSettings
from services.speech.voice_sample_store import QuotaExceeded, Usage, VoiceSampleStore
from voka import errors
from voka.errors import VokaError
from voka.speech.v1 import speech_pb2

DETECT_SECONDS = 10.0  # audio heard to detect a sample's language when none is given


class VoiceSamples:
    """Storing, removing and reading back voice samples within each owner's quota."""

    def __init__(
        self,
        store: VoiceSampleStore,
        blobs: Blobs,
        recognition: Recognition,
        settings: SpeechSettings,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._recognition = recognition
        self.max_count = settings.speech_sample_max_count
        self.max_bytes = settings.speech_sample_max_bytes

    async def create(
        self,
        owner: str,
        request: speech_pb2.CreateVoiceSampleRequest,
        decoded: audio.DecodedAudio,
    ) -> tuple[VoiceSampleRecord, Usage]:
        """Store the decoded upload; the record and the owner's usage after it.
        RESOURCE_EXHAUSTED beyond the quota (and nothing is kept)."""
        data = request.body.data
        language = request.language or await self._detect(decoded)
        now = datetime.now(UTC)
        sample_id = uuid.uuid4().hex
        path = await self._blobs.write(SAMPLES, sample_id, data)
        fallback_name = request.file_name or f"Sample {now:%Y-%m-%d %H:%M}"
        record = VoiceSampleRecord(
            id=sample_id, owner=owner,
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

    async def _detect(self, decoded: audio.DecodedAudio) -> str:
        """The language spoken in the first seconds; "" when no model can tell now."""
        head = decoded.samples[: int(DETECT_SECONDS * decoded.sample_rate)]
        try:
            transcript = await self._recognition.transcript(head, speech_pb2.RecognitionConfig())
        except VokaError:
            return ""
        return transcript.language

    def _over_quota(self, record: VoiceSampleRecord, usage: Usage) -> VokaError:
        return errors.quota_exceeded(
            f"voice sample quota exceeded: {usage.count} of {self.max_count} samples, "
            f"{usage.bytes} of {self.max_bytes} bytes used; this one is {record.size_bytes} bytes",
            record.owner,
            "voice samples per user (count and bytes)",
        )

    async def delete(self, record: VoiceSampleRecord) -> None:
        """The row, then the file."""
        path = await self._store.delete(record.id)
        if path is not None:
            await self._blobs.delete(path)

    async def audio(self, record: VoiceSampleRecord) -> bytes:
        """The stored upload, as it came."""
        return await self._blobs.read(record.path)
