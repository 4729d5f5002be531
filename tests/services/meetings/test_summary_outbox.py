"""A summary marked RUNNING always has its request on its way: the request commits with the
revision (`voka.outbox`), so NATS being down at that moment, and the service stopping before
NATS is back, cannot leave the summary RUNNING for ever. For RegenerateSummary and for the
pipeline's request once a meeting's transcript is complete, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import grpc
import pytest

from services.meetings import peers
from services.meetings.database import Database
from services.meetings.meetings.pipeline import Pipeline, pending_summary
from services.meetings.meetings.records import RecordingRecord
from services.meetings.service import SPEC
from services.meetings.settings import MeetingsSettings
from tests.fixtures.events import published
from tests.fixtures.tokens import TokenFactory
from tests.services.meetings.conftest import User, seed_meeting
from tools.processes import NatsServer
from voka.bus import Event, idempotent, subject_of
from voka.config import Settings
from voka.meetings.v1 import events_pb2, meeting_pb2, meetings_pb2, meetings_pb2_grpc
from voka.server import Running, start
from voka.speech.v1 import events_pb2 as speech_events
from voka.speech.v1 import speech_pb2

m = meetings_pb2
Requested = events_pb2.SummaryRequestedEvent


@pytest.fixture
def with_nats(settings: Settings, nats_server: NatsServer, identity: None) -> Settings:
    """The service as it runs, its pipeline included, on this test's own NATS server."""
    return settings.model_copy(update={"nats_url": nats_server.url})


@asynccontextmanager
async def serving(settings: Settings, tokens: TokenFactory) -> AsyncIterator[tuple[Running, User]]:
    """The service and its user; on leaving, the service stops as a process that goes before
    NATS is back: nothing it held in memory survives. (nats-py's close raises when its server
    is gone, before the engine is disposed.)"""
    running = await start(SPEC, settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        stub = meetings_pb2_grpc.MeetingsServiceStub(channel)
        yield running, User(stub, tokens.metadata(subject="users/alice"))
    finally:
        await channel.close()
        await running.stop()


async def requested_after_restart(
    settings: Settings, nats_server: NatsServer, meeting: str
) -> Requested:
    """NATS back, the service started again: the summary's request, once published."""
    await asyncio.to_thread(nats_server.start)

    def found(events: list[Requested]) -> list[Requested]:
        return [event for event in events if event.meeting == meeting]

    async with published(nats_server.url, Requested) as seen:
        running = await start(SPEC, settings)
        try:
            await seen.until(lambda events: bool(found(events)), seconds=30)
        finally:
            await running.stop()
    [request] = found(seen.events)
    return request


async def test_a_summary_regenerated_while_nats_is_down_is_requested_when_it_is_back(
    with_nats: Settings, nats_server: NatsServer, tokens: TokenFactory
) -> None:
    async with serving(with_nats, tokens) as (running, alice):
        name = await seed_meeting(alice, running, "", "Launch review")  # revision 1, COMPLETED
        await asyncio.to_thread(nats_server.stop)  # off the loop, so the client sees it go
        reply = await alice.RegenerateSummary(m.RegenerateSummaryRequest(name=name))
    assert (reply.summary.state, reply.summary.revision) == (
        meeting_pb2.PROCESSING_STATE_RUNNING,
        2,
    )
    request = await requested_after_restart(with_nats, nats_server, name)
    assert (request.revision, request.trigger) == (2, events_pb2.SUMMARY_TRIGGER_REGENERATE)


async def test_a_summary_the_pipeline_requests_while_nats_is_down_is_requested_when_it_is_back(
    with_nats: Settings, nats_server: NatsServer, tokens: TokenFactory
) -> None:
    async with serving(with_nats, tokens) as (running, alice):
        meeting = meeting_pb2.Meeting(title="Finance sync")
        meeting.start_time.GetCurrentTime()
        name = (await alice.CreateMeeting(m.CreateMeetingRequest(meeting=meeting))).meeting.name
        recording = await transcribing(running, name.removeprefix("meetings/"))
        await asyncio.to_thread(nats_server.stop)
        # What the pipeline's consumer does with speech's result: the transcript is complete,
        # so the waiting summary is requested.
        await take_result(running, completed(recording))
        summary = await alice.GetSummary(m.GetSummaryRequest(name=f"{name}/summary"))
    assert (summary.summary.state, summary.summary.revision) == (
        meeting_pb2.PROCESSING_STATE_RUNNING,
        1,
    )
    request = await requested_after_restart(with_nats, nats_server, name)
    assert (request.revision, request.trigger) == (
        1,
        events_pb2.SUMMARY_TRIGGER_TRANSCRIPT_COMPLETED,
    )


async def transcribing(running: Running, meeting_id: str) -> str:
    """A recording of the meeting at the speech service, and the summary waiting for it, as
    UploadRecording and the pipeline's first step leave them; the recording's name."""
    assert running.resources.sessions is not None
    recording_id, at = f"r{meeting_id[:20]}", datetime.now(UTC)
    async with Database(running.resources.sessions).transaction() as stores:
        await stores.recordings.add(
            RecordingRecord(
                id=recording_id,
                meeting_id=meeting_id,
                uploader="users/alice",
                file_name="a.wav",
                content_type="audio/wav",
                size_bytes=1,
                sha256="0",
                path="/none",
                duration_ms=None,
                language="en",
                state=meeting_pb2.RECORDING_STATE_TRANSCRIBING,
                transcription="",
                error="",
                meeting_offset_ms=0,
                summarize=True,
                create_time=at,
            )
        )
        await stores.summaries.put(pending_summary(meeting_id, None))
    return f"meetings/{meeting_id}/recordings/{recording_id}"


def completed(recording: str) -> speech_events.TranscriptionCompletedEvent:
    """Speech's completion of the recording's transcription job."""
    return speech_events.TranscriptionCompletedEvent(
        transcription="transcriptions/t1", owner=peers.SUBJECT, external_reference=recording,
        result=speech_pb2.TranscriptionResult(
            text="The launch moves to March.", language="en",
            segments=[speech_pb2.TranscriptSegment(text="The launch moves to March.")],
        ),
    )  # fmt: skip


async def take_result(running: Running, message: speech_events.TranscriptionCompletedEvent) -> None:
    """Handle `message` as the pipeline's consumer does (through the inbox), in the service's
    database and outbox, without NATS to deliver it."""
    resources = running.resources
    assert resources.sessions is not None
    assert resources.bus is not None
    assert resources.outbox is not None
    settings = resources.settings_as(MeetingsSettings)
    calls = peers.Peers(settings, peers.own_identity(settings))
    pipeline = Pipeline(resources.sessions, resources.bus, resources.outbox, calls, settings)
    handle = idempotent(resources.sessions, "meetings-speech-results", pipeline.take_result)
    delivery = Event(
        id="speech-completed-1", subject=subject_of(type(message)), message=message, headers={},
        delivered=1, time=datetime.now(UTC),
    )  # fmt: skip
    try:
        await handle(delivery)
    finally:
        await calls.close()
