"""Asynchronous transcriptions on the service's side: store the upload, insert the QUEUED job,
publish `voka.speech.transcription.requested`; read, list, cancel, delete and watch jobs. The
work itself is the worker's (`worker`)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from nats.aio.msg import Msg

from services.speech import audio, convert, events, tenancy, validation
from services.speech.blobs import UPLOADS, Blobs, sha256
from services.speech.records import TranscriptionRecord
from services.speech.settings import SpeechSettings
from services.speech.store import JobQuery, JobStore, NewTranscription
from voka import authn, errors, pagination
from voka.bus import EVENT_TYPE, Bus
from voka.speech.v1 import speech_pb2

RESOURCE = "speech.voka.dev/Transcription"
POLL_SECONDS = 1.0  # a watch re-reads the job this often even when no event arrives


def _now() -> datetime:
    return datetime.now(UTC)


class Jobs:
    """The transcription jobs of the contract."""

    def __init__(self, store: JobStore, blobs: Blobs, bus: Bus, settings: SpeechSettings) -> None:
        self._store = store
        self._blobs = blobs
        self._bus = bus
        self._settings = settings

    async def create(self, request: speech_pb2.CreateTranscriptionRequest) -> TranscriptionRecord:
        """Checked (format, size, a header's claims; the worker decodes it), stored, queued."""
        validation.check(validation.create_transcription(request))
        data = request.body.data
        try:
            fmt = audio.check(data, max_bytes=self._settings.speech_max_upload_bytes,
                              max_seconds=self._settings.speech_job_max_seconds)  # fmt: skip
        except audio.AudioError as exc:
            raise errors.invalid_argument([validation.audio_violation(exc)]) from exc
        job_id = uuid.uuid4().hex
        path = await self._blobs.write(UPLOADS, job_id, data)
        new = NewTranscription(
            id=job_id, owner=authn.caller().subject, config=request.config,
            file_name=request.file_name, external_reference=request.external_reference,
            request_id=request.request_id or None, content_type=fmt.mime_type,
            size_bytes=len(data), sha256=sha256(data), audio_path=path, create_time=_now(),
        )  # fmt: skip
        try:
            record, deduplicated = await self._store.create(new)
        except BaseException:
            await self._blobs.delete(path)
            raise
        if deduplicated:
            await self._blobs.delete(path)
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

    async def get(self, name: str) -> TranscriptionRecord:
        job_id, violations = validation.resource_id(name, "transcriptions")
        validation.check(violations)
        record = await self._store.get(job_id)
        if record is None:
            raise errors.not_found(RESOURCE, name)
        tenancy.check_visible(record.owner, RESOURCE, name)
        return record

    async def list(
        self, request: speech_pb2.ListTranscriptionsRequest
    ) -> speech_pb2.ListTranscriptionsResponse:
        size, bad_size = pagination.page_size(request.page_size)
        owner = tenancy.scope(request.owner)
        query = pagination.fingerprint(owner, request.state, request.external_reference)
        after, bad_token = pagination.keyset_cursor(request.page_token, query)
        validation.check(validation.list_transcriptions(request), bad_size, bad_token)
        records, total, more = await self._store.page(
            JobQuery(owner, request.state, request.external_reference, after, size)
        )
        view = request.view or speech_pb2.TRANSCRIPTION_VIEW_BASIC
        last = records[-1] if records and more else None
        return speech_pb2.ListTranscriptionsResponse(
            transcriptions=[convert.transcription(r, view) for r in records],
            next_page_token=pagination.keyset_token(query, last.create_time, last.id)
            if last
            else "",
            total_size=total,
        )

    async def cancel(self, name: str, reason: str) -> TranscriptionRecord:
        record = await self.get(name)
        if record.final:
            raise errors.failed_precondition(
                f"{name} is already {speech_pb2.TranscriptionState.Name(record.state)}",
                "TRANSCRIPTION_FINAL", name,
            )  # fmt: skip
        reason = reason or f"cancelled by {authn.caller().subject}"
        cancelled = await self._store.cancel(record.id, reason, _now())
        if cancelled is None:  # it reached a final state meanwhile
            return await self.get(name)
        if cancelled.final:
            message, event_id = events.final(cancelled)
            await self._bus.publish(message, event_id=event_id)
        else:
            await self._bus.publish(
                events.cancellation_requested(cancelled, authn.caller().subject, reason)
            )
        return cancelled

    async def delete(self, name: str) -> None:
        record = await self.get(name)
        path = await self._store.delete(record.id)
        if path is None:
            raise errors.failed_precondition(
                f"{name} is not finished; cancel it first", "TRANSCRIPTION_ACTIVE", name
            )
        await self._blobs.delete(path)

    async def watch(self, name: str) -> AsyncIterator[TranscriptionRecord]:
        """The job now, then at each change the events hint at (or the poll finds), until a
        final state. The database has the truth; events from any replica only wake us."""
        hints: asyncio.Queue[None] = asyncio.Queue()

        async def on_event(msg: Msg) -> None:
            kind = events.JOB_EVENTS.get((msg.headers or {}).get(EVENT_TYPE, ""))
            with contextlib.suppress(Exception):
                parsed: Any = kind.FromString(msg.data) if kind is not None else None
                if parsed is not None and parsed.transcription == name:  # every job event has it
                    hints.put_nowait(None)

        subscription = await self._bus.nc.subscribe(events.JOB_SUBJECTS, cb=on_event)
        try:
            async for changed in _changes(self._store, await self.get(name), hints):
                yield changed
        finally:
            await subscription.unsubscribe()


async def _changes(
    store: JobStore, record: TranscriptionRecord | None, hints: asyncio.Queue[None]
) -> AsyncIterator[TranscriptionRecord]:
    seen: tuple[object, ...] | None = None
    while record is not None:
        version = (record.state, record.attempts, record.progress_percent, record.cancel_requested)
        if version != seen:
            seen = version
            yield record
        if record.final:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(POLL_SECONDS):
                await hints.get()
        record = await store.get(record.id)
