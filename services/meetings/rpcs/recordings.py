"""Recording RPCs. Uploading and deleting change a meeting, so they need the access that
changing it needs (`Access.MANAGE`); reading needs seeing the meeting. The work itself happens
in the recording pipeline (`meetings.pipeline`), started by the event an upload publishes."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.meetings.convert import meeting_name, optional_project_name, recording_name
from services.meetings.meetings import audio_files, convert, validation
from services.meetings.meetings.access import Access
from services.meetings.meetings.pipeline import pending_summary
from services.meetings.meetings.records import MeetingRecord, RecordingRecord
from services.meetings.rpcs.base import (
    Context,
    RpcBase,
    check,
    id_of,
    meeting_for,
    now,
    valid,
)
from services.meetings.schema import new_id
from voka import authn, errors, uploads
from voka.errors import FieldViolation
from voka.meetings.v1 import events_pb2, meeting_pb2, meetings_pb2
from voka.pagination import offset_of, offset_token, page_size

RECORDING = "meetings.voka.dev/Recording"


def _next_offset(found: list[RecordingRecord]) -> int:
    """Right after the last recording (its length once known)."""
    if not found:
        return 0
    last = max(found, key=lambda r: r.meeting_offset_ms + (r.duration_ms or 0))
    return last.meeting_offset_ms + (last.duration_ms or 0)


class RecordingsRpcs(RpcBase):
    async def UploadRecording(
        self, request_iterator: AsyncIterator[meetings_pb2.UploadRecordingRequest],
        context: Context,
    ) -> meetings_pb2.UploadRecordingResponse:  # fmt: skip
        """The meeting and the caller's right to change it are checked on the first message,
        before any audio is stored."""
        stream = aiter(request_iterator)
        first = await anext(stream, None)
        if first is None:
            raise errors.invalid_argument([FieldViolation("parent", "is required")])
        meeting_id = id_of(first.parent, "meetings", "parent")
        check(validation.upload_violations(first))
        async with self._database.transaction() as stores:
            await meeting_for(stores, first.parent, "parent", Access.MANAGE)
        recording_id = new_id()
        try:
            stored = await audio_files.store(
                uploads.bodies(first, stream), self._recordings_dir / meeting_id / recording_id,
                claimed=first.body.content_type,
                max_bytes=self._settings.meetings_max_recording_bytes,
            )  # fmt: skip
        except audio_files.UploadError as exc:
            raise errors.invalid_argument([FieldViolation(exc.path, str(exc))]) from exc
        try:
            meeting, record = await self._add_recording(first, meeting_id, recording_id, stored)
        except BaseException:
            await audio_files.remove(stored.path)
            raise
        await self._queue(meeting, record)
        return meetings_pb2.UploadRecordingResponse(recording=convert.recording(record))

    async def _add_recording(
        self, first: meetings_pb2.UploadRecordingRequest, meeting_id: str, recording_id: str,
        stored: audio_files.StoredFile,
    ) -> tuple[MeetingRecord, RecordingRecord]:  # fmt: skip
        """The recording row, UPLOADED; the summary, unless skipped, waits (PENDING) for it."""
        async with self._database.transaction() as stores:
            meeting = await meeting_for(stores, first.parent, "parent", Access.MANAGE, lock=True)
            if first.HasField("meeting_offset"):
                offset = first.meeting_offset.ToMilliseconds()
            else:
                offset = _next_offset(await stores.recordings.of_meeting(meeting_id))
            record = RecordingRecord(
                id=recording_id, meeting_id=meeting_id, uploader=authn.caller().subject,
                file_name=first.file_name, content_type=stored.content_type,
                size_bytes=stored.size_bytes, sha256=stored.sha256, path=str(stored.path),
                duration_ms=None, language=first.language,
                state=meeting_pb2.RECORDING_STATE_UPLOADED, transcription="", error="",
                meeting_offset_ms=offset, summarize=not first.skip_summary, create_time=now(),
            )  # fmt: skip
            await stores.recordings.add(record)
            summary = await stores.summaries.get(meeting_id, lock=True)
            if not first.skip_summary and (
                summary is None or summary.state != meeting_pb2.PROCESSING_STATE_RUNNING
            ):
                await stores.summaries.put(pending_summary(meeting_id, summary))
        return meeting, record

    async def _queue(self, meeting: MeetingRecord, record: RecordingRecord) -> None:
        """Hand the recording to the pipeline; if the queue is down it FAILS now, with the
        reason, instead of waiting forever."""
        event = events_pb2.RecordingUploadedEvent(
            recording=recording_name(record.meeting_id, record.id),
            meeting=meeting_name(meeting.id), project=optional_project_name(meeting.project_id),
            content_type=record.content_type, size_bytes=record.size_bytes,
            language=record.language, summarize=record.summarize, uploader=record.uploader,
            owner=meeting.organizer,
        )  # fmt: skip
        try:
            await self._publish(event, event_id=f"{record.id}-uploaded")
        except Exception as exc:
            async with self._database.transaction() as stores:
                await stores.recordings.update(
                    record.id, [meeting_pb2.RECORDING_STATE_UPLOADED],
                    state=meeting_pb2.RECORDING_STATE_FAILED,
                    error=f"could not queue the transcription: {exc}",
                )  # fmt: skip
            raise errors.unavailable("the transcription queue is unavailable; try again") from exc

    async def _recording(self, name: str, need: Access) -> RecordingRecord:
        """The recording named `name`, if the caller has `need` access to its meeting."""
        ids, violations = validation.recording_ref(name, "name")
        meeting_id, recording_id = valid(ids, violations)
        async with self._database.transaction() as stores:
            await meeting_for(stores, meeting_name(meeting_id), "name", need)
            record = await stores.recordings.get(recording_id)
        if record is None or record.meeting_id != meeting_id:
            raise errors.not_found(RECORDING, name)
        return record

    async def GetRecording(
        self, request: meetings_pb2.GetRecordingRequest, context: Context
    ) -> meetings_pb2.GetRecordingResponse:
        record = await self._recording(request.name, Access.VIEW)
        return meetings_pb2.GetRecordingResponse(recording=convert.recording(record))

    async def ListRecordings(
        self, request: meetings_pb2.ListRecordingsRequest, context: Context
    ) -> meetings_pb2.ListRecordingsResponse:
        """A meeting has few recordings: pages are offsets over its ordered list."""
        size, violations = page_size(request.page_size)
        start, bad_token = offset_of(request.page_token, request.parent)
        check(violations + bad_token)
        async with self._database.transaction() as stores:
            meeting = await meeting_for(stores, request.parent, "parent", Access.VIEW)
            found = await stores.recordings.of_meeting(meeting.id)
        page = found[start : start + size]
        more = start + size < len(found)
        return meetings_pb2.ListRecordingsResponse(
            recordings=[convert.recording(r) for r in page],
            next_page_token=offset_token(request.parent, start + size) if more else "",
        )

    async def DeleteRecording(
        self, request: meetings_pb2.DeleteRecordingRequest, context: Context
    ) -> meetings_pb2.DeleteRecordingResponse:
        """Its segments go with it by cascade; the summary is left as it is."""
        record = await self._recording(request.name, Access.MANAGE)
        async with self._database.transaction() as stores:
            await stores.recordings.delete(record.id)
        await audio_files.remove(record.path)
        return meetings_pb2.DeleteRecordingResponse()
