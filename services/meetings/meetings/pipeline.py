"""The recording pipeline, over JetStream with durable consumers (see events.proto):

  UploadRecording → RecordingUploadedEvent → `transcribe`: the stored file put in the object
  store (voka/objects.py, owned by the uploader), CreateTranscription at the speech service on
  that reference, so a recording of any length travels in chunks, never as one message (service
  identity, `request_id` = the recording, so a redelivery finds the same job)
  → speech's `transcription.completed`/`failed` → `take_result`: segments stored, recording
  TRANSCRIBED or FAILED, exactly once through the transactional inbox → when no recording of
  the meeting is still on its way and a summary waits: SummaryRequestedEvent → `summarize`:
  CompleteChat at the assistant service, parsed, stored → SummaryCompletedEvent.

A step that the peer refuses (`voka.peer_calls`) fails its recording or summary at once; a peer
that is down is retried by redelivery with backoff, and the last delivery fails it with the
reason. Every event a step causes (a summary's request, a transcript's or a summary's outcome)
is written to the kit's outbox in the transaction that records the step (`Stores.events`): a
summary marked RUNNING always has its request on its way, even when NATS is down as it commits.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from datetime import UTC, datetime
from pathlib import Path

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.meetings.convert import meeting_name, optional_project_name
from services.meetings.database import Database, Stores
from services.meetings.meetings import convert, summaries, summary_steps
from services.meetings.meetings.records import (
    RUNNING_RECORDINGS,
    RecordingRecord,
    SegmentRecord,
    SummaryContent,
    SummaryRecord,
    transcript_state,
)
from services.meetings.peers import SUBJECT, Peers
from services.meetings.settings import MeetingsSettings
from voka.bus import Bus, Event, idempotent
from voka.meetings.v1 import events_pb2, meeting_pb2
from voka.objects import Objects
from voka.outbox import Outbox
from voka.peer_calls import RefusedError
from voka.speech.v1 import events_pb2 as speech_events
from voka.speech.v1 import speech_pb2
from voka.wellknown import duration

log = logging.getLogger("voka.meetings.pipeline")
MAX_DELIVER = 5
# Tries of one summary step (one CompleteChat of a map-reduce) that the assistant answers
# UNAVAILABLE, before the step's failure fails the summary's delivery.
STEP_ATTEMPTS = 3
_REFERENCE = re.compile(r"meetings/([A-Za-z0-9_-]{1,64})/recordings/([A-Za-z0-9_-]{1,64})")


def _ms(value: duration_pb2.Duration) -> int:
    return round(value.ToTimedelta().total_seconds() * 1000)


def _now() -> datetime:
    return datetime.now(UTC)


def summary_request(
    meeting_id: str, stored: SummaryRecord | None, *, trigger: int, requested_by: str,
    instructions: str = "", language: str = "",
) -> tuple[SummaryRecord, events_pb2.SummaryRequestedEvent]:  # fmt: skip
    """The summary's next revision, RUNNING (its previous content stays readable), and the
    work item that produces it."""
    base = pending_summary(meeting_id, stored)
    record = dataclasses.replace(
        base, state=meeting_pb2.PROCESSING_STATE_RUNNING, revision=base.revision + 1
    )
    event = events_pb2.SummaryRequestedEvent(
        summary=f"{meeting_name(meeting_id)}/summary", meeting=meeting_name(meeting_id),
        revision=record.revision, trigger=trigger,  # type: ignore[arg-type]
        instructions=instructions, language=language, requested_by=requested_by,
    )  # fmt: skip
    return record, event


def pending_summary(meeting_id: str, stored: SummaryRecord | None) -> SummaryRecord:
    """The summary waiting for a transcript, with its previous content (if any) readable."""
    at = _now()
    base = stored or SummaryRecord(meeting_id, 0, 0, SummaryContent(), "", "", "", "", None, at)
    return dataclasses.replace(
        base, state=meeting_pb2.PROCESSING_STATE_PENDING, error="", update_time=at
    )


def summary_event_id(event: events_pb2.SummaryRequestedEvent) -> str:
    return f"{event.meeting.removeprefix('meetings/')}-summary-{event.revision}"


class Pipeline:
    """The three consumers of the pipeline."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], bus: Bus, outbox: Outbox, peers: Peers,
        settings: MeetingsSettings,
    ) -> None:  # fmt: skip
        self._sessions = sessions
        self._database = Database(sessions, outbox)
        self._bus = bus
        self._peers = peers
        self._settings = settings
        self._objects: Objects  # the recordings handed to speech, opened by `start`

    async def start(self) -> None:
        settings = self._settings
        self._objects = await Objects(self._bus.js, "meetings").open(
            max_bytes=settings.meetings_objects_max_bytes,
            max_age=settings.meetings_objects_max_age,
            replicas=settings.stream_replicas,
        )
        timeout = self._settings.meetings_peer_timeout + 30
        await self._bus.subscribe(
            events_pb2.RecordingUploadedEvent, "meetings-transcribe", self.transcribe,
            max_deliver=MAX_DELIVER, handler_timeout=timeout,
        )  # fmt: skip
        await self._bus.subscribe_many(
            [speech_events.TranscriptionCompletedEvent, speech_events.TranscriptionFailedEvent],
            "meetings-speech-results",
            idempotent(self._sessions, "meetings-speech-results", self.take_result),
        )
        await self._bus.subscribe(
            events_pb2.SummaryRequestedEvent, "meetings-summarize", self.summarize,
            max_deliver=MAX_DELIVER, handler_timeout=self._settings.meetings_summary_timeout,
            concurrency=1,
        )  # fmt: skip

    # Step 1: ask the speech service for a transcription

    async def transcribe(self, event: Event[events_pb2.RecordingUploadedEvent]) -> None:
        found = _REFERENCE.fullmatch(event.message.recording)
        async with self._database.transaction() as stores:
            record = await stores.recordings.get(found.group(2)) if found else None
        if record is None or record.state != meeting_pb2.RECORDING_STATE_UPLOADED:
            return  # deleted meanwhile, or a redelivery of a step already done
        try:
            job = await self._hand_over(record, event.message.recording)
        except RefusedError as exc:
            await self._fail_recording(event.message.recording, str(exc))
            return
        except Exception as exc:
            if event.delivered >= MAX_DELIVER:
                await self._fail_recording(event.message.recording, f"speech unavailable: {exc}")
                return
            raise
        async with self._database.transaction() as stores:
            await stores.recordings.update(
                record.id, [meeting_pb2.RECORDING_STATE_UPLOADED],
                state=meeting_pb2.RECORDING_STATE_TRANSCRIBING, transcription=job.name,
            )  # fmt: skip

    async def _hand_over(self, record: RecordingRecord, recording: str) -> speech_pb2.Transcription:
        """CreateTranscription on the stored recording put in the object store, owned by its
        uploader (speech takes it for that user only), whatever its size. Speech has copied the
        object when it answers, so it is deleted then, answer or failure: a redelivery puts it
        again under the same name, and one the process died holding goes after
        VOKA_MEETINGS_OBJECTS_MAX_AGE."""
        stored = await self._objects.put_file(
            Path(record.path), owner=record.uploader, content_type=record.content_type,
            name=f"recording-{record.id}",
        )  # fmt: skip
        try:
            return await self._peers.create_transcription(
                str(stored.ref), language=record.language, file_name=record.file_name,
                reference=recording, request_id=record.id, for_user=record.uploader,
            )  # fmt: skip
        finally:
            await self._objects.delete(stored.ref)

    async def _fail_recording(self, recording: str, error: str) -> None:
        meeting_id, recording_id = recording.split("/")[1], recording.split("/")[3]
        async with self._database.transaction() as stores:
            failed = await stores.recordings.update(
                recording_id, RUNNING_RECORDINGS, state=meeting_pb2.RECORDING_STATE_FAILED,
                error=error, transcribe_time=_now(),
            )  # fmt: skip
            if failed:
                await self._after_recording(stores, meeting_id, recording, error)

    # Step 2: take the speech service's result (exactly once, through the inbox)

    async def take_result(self, event: Event[Message], session: AsyncSession) -> None:
        message = event.message
        reference: str = message.external_reference  # type: ignore[attr-defined]
        found = _REFERENCE.fullmatch(reference)
        if found is None:
            return
        meeting_id, recording_id = found.groups()
        stores = Stores.of(session, self._database.outbox)
        record = await stores.recordings.get(recording_id)
        name = message.transcription  # type: ignore[attr-defined]
        if (
            record is None
            or message.owner not in (SUBJECT, record.uploader)  # type: ignore[attr-defined]
            or record.meeting_id != meeting_id
            or record.transcription not in ("", name)
        ):
            return  # not a job asked for this recording: no one else's job can touch it
        if isinstance(message, speech_events.TranscriptionFailedEvent):
            error = f"transcription failed: {message.error.message}"
            if await stores.recordings.update(
                recording_id, RUNNING_RECORDINGS, state=meeting_pb2.RECORDING_STATE_FAILED,
                error=error, transcription=name, transcribe_time=_now(),
            ):  # fmt: skip
                await self._after_recording(stores, meeting_id, reference, error)
            return
        result = message.result  # type: ignore[attr-defined]
        if not await stores.recordings.update(
            recording_id, RUNNING_RECORDINGS, state=meeting_pb2.RECORDING_STATE_TRANSCRIBED,
            transcription=name, duration_ms=_ms(result.duration),
            language=result.language or record.language, transcribe_time=_now(),
        ):  # fmt: skip
            return
        await stores.recordings.add_segments(meeting_id, [
            SegmentRecord(recording_id, i, _ms(s.start_offset), _ms(s.end_offset), "", s.text)
            for i, s in enumerate(result.segments)
        ])  # fmt: skip
        await self._after_recording(stores, meeting_id, reference, "")

    async def _after_recording(
        self, stores: Stores, meeting_id: str, recording: str, error: str
    ) -> None:
        """Announce the recording's outcome; once none of the meeting's recordings is on its
        way, a waiting (PENDING) summary is requested, or FAILED when nothing was
        transcribed."""
        meeting = await stores.meetings.get(meeting_id)
        if meeting is None:
            return
        name = f"{meeting_name(meeting_id)}/transcript"
        recording_id = recording.rsplit("/", maxsplit=1)[-1]
        if error:
            await stores.events.add(events_pb2.TranscriptFailedEvent(
                transcript=name, meeting=meeting_name(meeting_id), recording=recording,
                error=error, owner=meeting.organizer,
            ), f"{recording_id}-transcript-failed")  # fmt: skip
        else:
            done = await stores.recordings.get(recording_id)
            words = sum(len(s.text.split()) for s in await stores.recordings.segments(meeting_id))
            await stores.events.add(events_pb2.TranscriptCompletedEvent(
                transcript=name, meeting=meeting_name(meeting_id), recording=recording,
                transcription=done.transcription if done else "",
                language=done.language if done else "",
                duration=duration((done.duration_ms or 0) / 1000 if done else 0),
                word_count=words, owner=meeting.organizer,
            ), f"{recording_id}-transcript-completed")  # fmt: skip
        stored = await stores.summaries.get(meeting_id, lock=True)
        state = transcript_state(meeting.recording_states)
        if stored is None or stored.state != meeting_pb2.PROCESSING_STATE_PENDING:
            return
        if state == meeting_pb2.PROCESSING_STATE_FAILED:
            await stores.summaries.put(dataclasses.replace(
                stored, state=meeting_pb2.PROCESSING_STATE_FAILED,
                error="no recording could be transcribed", update_time=_now(),
            ))  # fmt: skip
        elif state == meeting_pb2.PROCESSING_STATE_COMPLETED:
            record, request = summary_request(
                meeting_id, stored, trigger=events_pb2.SUMMARY_TRIGGER_TRANSCRIPT_COMPLETED,
                requested_by=meeting.organizer,
            )  # fmt: skip
            await stores.summaries.put(record)
            await stores.events.add(request, summary_event_id(request))

    # Step 3: write the summary

    async def summarize(self, event: Event[events_pb2.SummaryRequestedEvent]) -> None:
        """Stale requests (an older revision) and repeated ones (already written) are
        dropped; the model is called outside any transaction."""
        request = event.message
        meeting_id = request.meeting.removeprefix("meetings/")
        async with self._database.transaction() as stores:
            stored = await stores.summaries.get(meeting_id)
            meeting = await stores.meetings.get(meeting_id)
            parts = await stores.recordings.segments(meeting_id)
            found = await stores.recordings.of_meeting(meeting_id)
        if not _current(stored, request.revision) or meeting is None:
            return
        transcript = convert.transcript(meeting_id, 0, found, parts)
        invited = [p.display_name for p in meeting.participants]
        ask = summary_steps.Request(meeting.title, invited, request.instructions,
                                    request.language)  # fmt: skip
        try:
            outcome, model = await self._write_summary(ask, [p.text for p in parts],
                                                       request.requested_by)  # fmt: skip
        except summary_steps.NoRoomError as exc:
            await self._finish(request, error=str(exc))
            return
        except RefusedError as exc:
            await self._finish(request, error=f"the assistant refused: {exc}")
            return
        except Exception as exc:
            if event.delivered >= MAX_DELIVER:
                await self._finish(request, error=f"assistant unavailable: {exc}")
                return
            raise
        answer = outcome.answer
        content = summaries.parse(answer, invited, transcript.text)
        language = request.language or transcript.language
        error = "" if answer.strip() else "the model answered nothing"
        await self._finish(request, content=content, answer=answer, model=model,
                           error=error, language=language)  # fmt: skip

    async def _write_summary(
        self, ask: summary_steps.Request, segments: list[str], for_user: str
    ) -> tuple[summary_steps.Outcome, str]:
        """The model's answer, in steps when the transcript is longer than the model's
        context (`summary_steps`), and the model that wrote it."""
        settings = self._settings
        model = settings.meetings_summary_model
        context = settings.meetings_summary_context_tokens or (
            await self._peers.context_tokens(model)
        )
        budget = summary_steps.Budget(context or summary_steps.ASSUMED_CONTEXT_TOKENS,
                                      settings.meetings_summary_max_tokens)  # fmt: skip
        models: list[str] = []

        async def complete(messages: summary_steps.Messages) -> str:
            """One step; an UNAVAILABLE one (the assistant's connection recycled under a long
            call, VOKA_CONNECTION_MAX_AGE_SECONDS, or a moment down) is tried again alone
            before the whole summary is left to redelivery."""
            for attempt in range(1, STEP_ATTEMPTS + 1):
                try:
                    reply = await self._peers.complete_chat(
                        messages, model=model, max_tokens=settings.meetings_summary_max_tokens,
                        for_user=for_user,
                    )  # fmt: skip
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.UNAVAILABLE or attempt == STEP_ATTEMPTS:
                        raise
                    await asyncio.sleep(attempt)
                    continue
                models.append(reply.model)
                return reply.message.content
            raise AssertionError("unreachable: the last attempt returns or raises")

        outcome = await summary_steps.summarise(
            ask, segments, budget, complete, concurrency=settings.meetings_summary_concurrency
        )
        log.info("summary of %d characters in %d map and %d reduce calls (context %d tokens)",
                 sum(len(s) for s in segments), outcome.map_calls, outcome.reduce_calls,
                 budget.context_tokens)  # fmt: skip
        return outcome, models[-1]

    async def _finish(
        self, request: events_pb2.SummaryRequestedEvent, *, content: SummaryContent | None = None,
        answer: str = "", model: str = "", error: str = "", language: str = "",
    ) -> None:  # fmt: skip
        """Store the revision's outcome unless a newer revision was asked meanwhile, and its
        announcement with it."""
        meeting_id = request.meeting.removeprefix("meetings/")
        at = _now()
        async with self._database.transaction() as stores:
            stored = await stores.summaries.get(meeting_id, lock=True)
            meeting = await stores.meetings.get(meeting_id)
            if stored is None or meeting is None or not _current(stored, request.revision):
                return
            record = dataclasses.replace(
                stored, raw_output=answer, model=model or stored.model, error=error,
                update_time=at, state=meeting_pb2.PROCESSING_STATE_FAILED if error else (
                    meeting_pb2.PROCESSING_STATE_COMPLETED),
            )  # fmt: skip
            if not error and content is not None:
                record = dataclasses.replace(record, content=content, language=language,
                                             generate_time=at)  # fmt: skip
            await stores.summaries.put(record)
            event_id = f"{summary_event_id(request)}-{'failed' if error else 'completed'}"
            if error:
                await stores.events.add(events_pb2.SummaryFailedEvent(
                    summary=request.summary, meeting=request.meeting, revision=request.revision,
                    error=error, owner=meeting.organizer,
                ), event_id)  # fmt: skip
                return
            await stores.events.add(events_pb2.SummaryCompletedEvent(
                meeting=request.meeting, project=optional_project_name(meeting.project_id),
                title=meeting.title, summary=convert.summary(record, at.date()),
                owner=meeting.organizer,
            ), event_id)  # fmt: skip


def _current(stored: SummaryRecord | None, revision: int) -> bool:
    """Whether `revision` is the one the summary waits for."""
    return (
        stored is not None
        and stored.revision == revision
        and stored.state == meeting_pb2.PROCESSING_STATE_RUNNING
    )
