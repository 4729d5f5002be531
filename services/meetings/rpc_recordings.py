"""Recording, transcript and summary RPCs, mixed into the servicer.

Uploading and regenerating change a meeting, so they need the access that changing it needs
(organizer, project owner, host, admin); reading needs seeing the meeting. The work itself
happens in the pipeline (`pipeline`), started by the events these handlers publish.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.meetings import audio_files, meeting_convert, meeting_validation
from services.meetings.deps import Deps
from services.meetings.meeting_records import Access, MeetingRecord, RecordingRecord
from services.meetings.meeting_store import MeetingRepo
from services.meetings.pipeline import pending_summary, summary_event_id, summary_request
from services.meetings.rpc_common import (
    Context,
    check,
    new_id,
    now,
    resource_id,
    valid,
    viewer,
)
from services.meetings.rpc_meetings import load_meeting
from voka import errors
from voka.errors import FieldViolation
from voka.meetings.v1 import events_pb2, meeting_pb2, meetings_pb2
from voka.pagination import offset_of, offset_token, page_size

M = meeting_pb2
RECORDING = "meetings.voka.dev/Recording"
TRANSCRIPT = "meetings.voka.dev/Transcript"
SUMMARY = "meetings.voka.dev/Summary"


def _first_violations(first: meetings_pb2.UploadRecordingRequest) -> list[FieldViolation]:
    violations = meeting_validation.language(first.language, "language")
    if len(first.file_name) > meeting_validation.MAX_FILE_NAME:
        violations.append(FieldViolation(
            "file_name", f"must be at most {meeting_validation.MAX_FILE_NAME} characters"
        ))  # fmt: skip
    if first.HasField("meeting_offset") and first.meeting_offset.ToNanoseconds() < 0:
        violations.append(FieldViolation("meeting_offset", "must not be negative"))
    return violations


def _next_offset(found: list[RecordingRecord]) -> int:
    """Right after the last recording (its length once known)."""
    if not found:
        return 0
    last = max(found, key=lambda r: r.meeting_offset_ms + (r.duration_ms or 0))
    return last.meeting_offset_ms + (last.duration_ms or 0)


async def _chunks(
    first: meetings_pb2.UploadRecordingRequest,
    rest: AsyncIterator[meetings_pb2.UploadRecordingRequest],
) -> AsyncIterator[bytes]:
    yield first.body.data
    async for message in rest:
        yield message.body.data


class RecordingRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

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
        meeting_id = resource_id(first.parent, "meetings", "parent")
        check(_first_violations(first))
        async with self._deps.store.session() as session:
            await load_meeting(MeetingRepo(session), first.parent, "parent", Access.MANAGE)
        recording_id = new_id()
        try:
            stored = await audio_files.store(
                _chunks(first, stream), self._deps.recordings_dir / meeting_id / recording_id,
                claimed=first.body.content_type,
                max_bytes=self._deps.settings.meetings_max_recording_bytes,
            )  # fmt: skip
        except audio_files.UploadError as exc:
            raise errors.invalid_argument([FieldViolation(exc.path, str(exc))]) from exc
        try:
            meeting, record = await self._add_recording(first, meeting_id, recording_id, stored)
        except BaseException:
            await audio_files.remove(stored.path)
            raise
        await self._queue(meeting, record)
        return meetings_pb2.UploadRecordingResponse(recording=meeting_convert.recording(record))

    async def _add_recording(
        self, first: meetings_pb2.UploadRecordingRequest, meeting_id: str, recording_id: str,
        stored: audio_files.StoredFile,
    ) -> tuple[MeetingRecord, RecordingRecord]:  # fmt: skip
        """The recording row, UPLOADED; the summary, unless skipped, waits (PENDING) for it."""
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            meeting = await load_meeting(repo, first.parent, "parent", Access.MANAGE, lock=True)
            offset = first.meeting_offset.ToMilliseconds() if first.HasField(
                "meeting_offset") else _next_offset(await repo.recordings(meeting_id))  # fmt: skip
            record = RecordingRecord(
                id=recording_id, meeting_id=meeting_id, uploader=viewer().subject,
                file_name=first.file_name, content_type=stored.content_type,
                size_bytes=stored.size_bytes, sha256=stored.sha256, path=str(stored.path),
                duration_ms=None, language=first.language, state=M.RECORDING_STATE_UPLOADED,
                transcription="", error="", meeting_offset_ms=offset,
                summarize=not first.skip_summary, create_time=now(),
            )  # fmt: skip
            await repo.add_recording(record)
            summary = await repo.summary(meeting_id, lock=True)
            if not first.skip_summary and (
                summary is None or summary.state != M.PROCESSING_STATE_RUNNING
            ):
                await repo.put_summary(pending_summary(meeting_id, summary))
        return meeting, record

    async def _queue(self, meeting: MeetingRecord, record: RecordingRecord) -> None:
        """Hand the recording to the pipeline; if the queue is down it FAILS now, with the
        reason, instead of waiting forever."""
        event = events_pb2.RecordingUploadedEvent(
            recording=meeting_convert.recording_name(record.meeting_id, record.id),
            meeting=meeting_convert.meeting_name(meeting.id),
            project=f"projects/{meeting.project_id}" if meeting.project_id else "",
            content_type=record.content_type, size_bytes=record.size_bytes,
            language=record.language, summarize=record.summarize, uploader=record.uploader,
            owner=meeting.organizer,
        )  # fmt: skip
        try:
            await self._deps.publish(event, event_id=f"{record.id}-uploaded")
        except Exception as exc:
            async with self._deps.store.session() as session:
                await MeetingRepo(session).update_recording(
                    record.id, [M.RECORDING_STATE_UPLOADED], state=M.RECORDING_STATE_FAILED,
                    error=f"could not queue the transcription: {exc}",
                )  # fmt: skip
            raise errors.unavailable("the transcription queue is unavailable; try again") from exc

    async def _recording(self, name: str, need: Access) -> tuple[MeetingRecord, RecordingRecord]:
        ids, violations = meeting_validation.recording_ref(name, "name")
        meeting_id, recording_id = valid(ids, violations)
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            meeting = await load_meeting(repo, f"meetings/{meeting_id}", "name", need)
            record = await repo.recording(recording_id)
        if record is None or record.meeting_id != meeting_id:
            raise errors.not_found(RECORDING, name)
        return meeting, record

    async def GetRecording(
        self, request: meetings_pb2.GetRecordingRequest, context: Context
    ) -> meetings_pb2.GetRecordingResponse:
        _, record = await self._recording(request.name, Access.VIEW)
        return meetings_pb2.GetRecordingResponse(recording=meeting_convert.recording(record))

    async def ListRecordings(
        self, request: meetings_pb2.ListRecordingsRequest, context: Context
    ) -> meetings_pb2.ListRecordingsResponse:
        """A meeting has few recordings: pages are offsets over its ordered list."""
        size, violations = page_size(request.page_size)
        start, bad_token = offset_of(request.page_token, request.parent)
        check(violations + bad_token)
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            meeting = await load_meeting(repo, request.parent, "parent", Access.VIEW)
            found = await repo.recordings(meeting.id)
        page = found[start : start + size]
        more = start + size < len(found)
        return meetings_pb2.ListRecordingsResponse(
            recordings=[meeting_convert.recording(r) for r in page],
            next_page_token=offset_token(request.parent, start + size) if more else "",
        )

    async def DeleteRecording(
        self, request: meetings_pb2.DeleteRecordingRequest, context: Context
    ) -> meetings_pb2.DeleteRecordingResponse:
        """Its segments go with it by cascade; the summary is left as it is."""
        _, record = await self._recording(request.name, Access.MANAGE)
        async with self._deps.store.session() as session:
            await MeetingRepo(session).delete_recording(record.id)
        await audio_files.remove(record.path)
        return meetings_pb2.DeleteRecordingResponse()

    async def GetTranscript(
        self, request: meetings_pb2.GetTranscriptRequest, context: Context
    ) -> meetings_pb2.GetTranscriptResponse:
        meeting_id = resource_id(request.name, "meetings", "name", suffix="/transcript")
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            meeting = await load_meeting(repo, f"meetings/{meeting_id}", "name", Access.VIEW)
            found = await repo.recordings(meeting_id)
            parts = await repo.segments(meeting_id)
        if not found:
            raise errors.not_found(TRANSCRIPT, request.name)
        transcript = meeting_convert.transcript(meeting_id, meeting.transcript_state, found, parts)
        return meetings_pb2.GetTranscriptResponse(transcript=transcript)

    async def GetSummary(
        self, request: meetings_pb2.GetSummaryRequest, context: Context
    ) -> meetings_pb2.GetSummaryResponse:
        meeting_id = resource_id(request.name, "meetings", "name", suffix="/summary")
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            await load_meeting(repo, f"meetings/{meeting_id}", "name", Access.VIEW)
            record = await repo.summary(meeting_id)
        if record is None:
            raise errors.not_found(SUMMARY, request.name)
        return meetings_pb2.GetSummaryResponse(
            summary=meeting_convert.summary(record, now().date())
        )

    async def RegenerateSummary(
        self, request: meetings_pb2.RegenerateSummaryRequest, context: Context
    ) -> meetings_pb2.RegenerateSummaryResponse:
        violations = meeting_validation.language(request.language, "language")
        if len(request.instructions) > meeting_validation.MAX_INSTRUCTIONS:
            limit = meeting_validation.MAX_INSTRUCTIONS
            violations.append(FieldViolation("instructions", f"must be at most {limit} characters"))
        check(violations)
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            meeting = await load_meeting(repo, request.name, "name", Access.MANAGE, lock=True)
            if meeting.transcript_state != M.PROCESSING_STATE_COMPLETED:
                raise errors.failed_precondition(
                    "the transcript is not COMPLETED", "TRANSCRIPT_NOT_COMPLETED", request.name
                )
            record, event = summary_request(
                meeting.id, await repo.summary(meeting.id, lock=True),
                trigger=events_pb2.SUMMARY_TRIGGER_REGENERATE, requested_by=viewer().subject,
                instructions=request.instructions, language=request.language,
            )  # fmt: skip
            await repo.put_summary(record)
        await self._deps.publish(event, event_id=summary_event_id(event))
        return meetings_pb2.RegenerateSummaryResponse(
            summary=meeting_convert.summary(record, now().date())
        )
