"""Asynchronous transcriptions on the service's side: the upload is stored and the job queued
(`voka.speech.transcription.requested`), cancelled, deleted and followed here; the work itself
is the worker's (`worker`). The job row is the truth and events only announce it, so every step
writes the row first and publishes after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg

from services.speech import events
from services.speech.blobs import Blobs
from services.speech.records import TranscriptionRecord
from services.speech.transcription_store import NewTranscription, TranscriptionStore
from services.speech.uploads import Upload
from voka import errors
from voka.authn import Identity
from voka.bus import EVENT_TYPE, Bus
from voka.speech.v1 import speech_pb2
from voka.watch import Watched, changes


def _now() -> datetime:
    return datetime.now(UTC)


class Transcriptions:
    """The transcription jobs of the contract, over the store, the files and the bus."""

    def __init__(self, store: TranscriptionStore, blobs: Blobs, bus: Bus) -> None:
        self._store = store
        self._blobs = blobs
        self._bus = bus

    async def submit(
        self,
        caller: Identity,
        request: speech_pb2.CreateTranscriptionRequest,
        upload: Upload,
    ) -> TranscriptionRecord:
        """Queue the job of the stored, checked upload, the caller's (the user a service asked
        for, with that service as its actor); with a request id the owner used in the last 24
        hours, the earlier job instead (and the upload is deleted)."""
        new = NewTranscription(
            id=upload.job_id, owner=caller.subject, actor=caller.actor, config=request.config,
            file_name=request.file_name, external_reference=request.external_reference,
            request_id=request.request_id or None, content_type=upload.format.mime_type,
            size_bytes=upload.size, sha256=upload.sha256, audio_path=upload.path,
            create_time=_now(),
        )  # fmt: skip
        try:
            record, deduplicated = await self._store.create(new)
        except BaseException:
            await self._blobs.delete(upload.path)
            raise
        if deduplicated:
            await self._blobs.delete(upload.path)
            return record
        await self._queue(record)
        return record

    async def _queue(self, record: TranscriptionRecord) -> None:
        event = events.requested(record, self._blobs.uri(record.audio_path))
        try:
            await self._bus.publish(event, event_id=f"{record.id}-requested")
        except Exception as exc:
            await self._store.abandon(record.id, f"could not queue the job: {exc}", _now())
            raise errors.unavailable("the job queue is unavailable; try again") from exc

    async def cancel(
        self, record: TranscriptionRecord, requester: str, reason: str
    ) -> TranscriptionRecord | None:
        """QUEUED: cancelled now; RUNNING: its worker is asked to stop. None when the job
        reached a final state meanwhile; FAILED_PRECONDITION when it already was final."""
        if record.final:
            raise errors.failed_precondition(
                f"{record.name} is already {speech_pb2.TranscriptionState.Name(record.state)}",
                "TRANSCRIPTION_FINAL", record.name,
            )  # fmt: skip
        reason = reason or f"cancelled by {requester}"
        cancelled = await self._store.cancel(record.id, reason, _now())
        if cancelled is None:
            return None
        if cancelled.final:
            message, event_id = events.final(cancelled)
            await self._bus.publish(message, event_id=event_id)
        else:
            await self._bus.publish(events.cancellation_requested(cancelled, requester, reason))
        return cancelled

    async def delete(self, record: TranscriptionRecord) -> None:
        """The finished job's row, then its upload; FAILED_PRECONDITION while it is active."""
        path = await self._store.delete(record.id)
        if path is None:
            raise errors.failed_precondition(
                f"{record.name} is not finished; cancel it first", "TRANSCRIPTION_ACTIVE",
                record.name,
            )  # fmt: skip
        await self._blobs.delete(path)

    def watch(self, record: TranscriptionRecord) -> AsyncIterator[TranscriptionRecord]:
        """The job now, then at each change of state, attempt, progress or cancel flag, until
        a final state; job events from any replica wake the loop, a poll covers lost ones."""

        def concerns(msg: Msg) -> bool:  # every job event names its transcription
            kind = events.JOB_EVENTS.get((msg.headers or {}).get(EVENT_TYPE, ""))
            parsed: Any = kind.FromString(msg.data) if kind is not None else None
            return parsed is not None and parsed.transcription == record.name

        def version(job: TranscriptionRecord) -> tuple[object, ...]:
            return (job.state, job.attempts, job.progress_percent, job.cancel_requested)

        followed = Watched(lambda: self._store.get(record.id), version, lambda job: job.final)
        return changes(self._bus, events.JOB_SUBJECTS, concerns, followed)
