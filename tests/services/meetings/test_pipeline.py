"""The recording pipeline end to end, with the real speech service (tiny.en, a Piper voice)
and the real assistant service (the packaged SmolLM2) in process on one NATS server: upload →
transcript → summary, within bounded waits, the speech job the uploader's (the meetings service
calls on the uploader's behalf); a recording over the old one-message limit (25 MiB) handed to
speech by reference through the object store, the object gone afterwards; and a redelivered
speech completion has its effect once, while a completion of someone else's job has none."""

from __future__ import annotations

import io
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import nats
import numpy as np
import pytest
from google.api import httpbody_pb2

from services.assistant.service import SPEC as ASSISTANT
from services.meetings.service import SPEC as MEETINGS
from services.meetings.settings import MeetingsSettings
from services.speech.service import SPEC as SPEECH
from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tests.services.assistant.conftest import assistant_settings
from tests.services.meetings.conftest import User
from tests.services.speech.conftest import (  # noqa: F401 - session fixtures used here
    Clip,
    models_dir,
    piper,
    piper_clip,
    service_settings,
)
from tools.processes import NatsServer
from voka.bus import EVENT_ID, EVENT_TYPE
from voka.meetings.v1 import meeting_pb2, meetings_pb2, meetings_pb2_grpc
from voka.objects import ObjectNotFound, ObjectRef, Objects
from voka.server import start
from voka.speech.v1 import events_pb2 as speech_events
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

pytestmark = pytest.mark.integration
m = meetings_pb2


@dataclass
class Mesh:
    meetings: meetings_pb2_grpc.MeetingsServiceStub
    speech: speech_pb2_grpc.SpeechServiceStub


@pytest.fixture(scope="module")
async def mesh(
    tokens: TokenFactory,
    nats_module: NatsServer,
    models_dir: Path,  # noqa: F811 - the imported session fixture
    identity: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Mesh]:
    speech = await start(
        SPEECH,
        service_settings(tokens, nats_module.url, models_dir, tmp_path_factory.mktemp("speech")),
    )
    data = tmp_path_factory.mktemp("assistant")
    assistant = await start(
        ASSISTANT,
        assistant_settings(tokens, nats_module, data, f"sqlite:///{data / 'assistant.db'}"),
    )
    meetings = await start(
        MEETINGS,
        MeetingsSettings(
            service="meetings",
            port=0,
            data_dir=tmp_path_factory.mktemp("meetings"),
            jwks_file=tokens.jwks_file,
            nats_url=nats_module.url,
            meetings_summary_max_tokens=48,
            addresses={
                "speech": f"127.0.0.1:{speech.port}",
                "assistant": f"127.0.0.1:{assistant.port}",
            },
        ),
    )
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{meetings.port}") as channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{speech.port}") as speech_channel,
    ):
        yield Mesh(
            meetings_pb2_grpc.MeetingsServiceStub(channel),
            speech_pb2_grpc.SpeechServiceStub(speech_channel),
        )
    for running in (meetings, assistant, speech):
        await running.stop()


@pytest.fixture
def ana_subject() -> str:
    return f"users/ana-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def ana(mesh: Mesh, tokens: TokenFactory, ana_subject: str) -> User:
    return User(mesh.meetings, tokens.metadata(subject=ana_subject))


async def upload(user: User, parent: str, audio: bytes) -> meeting_pb2.Recording:
    async def messages():
        yield m.UploadRecordingRequest(
            parent=parent,
            file_name="standup.wav",
            language="en",
            body=httpbody_pb2.HttpBody(content_type="audio/wav", data=audio[: 1 << 20]),
        )
        for start_at in range(1 << 20, len(audio), 1 << 20):
            chunk = audio[start_at : start_at + (1 << 20)]
            yield m.UploadRecordingRequest(body=httpbody_pb2.HttpBody(data=chunk))

    return (await user.UploadRecording(messages())).recording


async def new_meeting(user: User) -> meeting_pb2.Meeting:
    meeting = meeting_pb2.Meeting(
        title="Finance sync", participants=[meeting_pb2.Participant(display_name="Ana")]
    )
    meeting.start_time.GetCurrentTime()
    return (await user.CreateMeeting(m.CreateMeetingRequest(meeting=meeting))).meeting


async def test_upload_is_transcribed_then_summarised(
    ana: User,
    ana_subject: str,
    mesh: Mesh,
    tokens: TokenFactory,
    piper_clip: Clip,  # noqa: F811
):
    meeting = await new_meeting(ana)
    recording = await upload(ana, meeting.name, piper_clip.wav)
    assert recording.state == meeting_pb2.RECORDING_STATE_UPLOADED
    name = meeting.name

    async def summarised() -> bool:
        reply = await ana.GetSummary(m.GetSummaryRequest(name=f"{name}/summary"))
        return reply.summary.state in (
            meeting_pb2.PROCESSING_STATE_COMPLETED,
            meeting_pb2.PROCESSING_STATE_FAILED,
        )

    await eventually(summarised, within=180)
    transcript = await ana.GetTranscript(m.GetTranscriptRequest(name=f"{name}/transcript"))
    assert transcript.transcript.state == meeting_pb2.PROCESSING_STATE_COMPLETED
    assert "report" in transcript.transcript.text.lower()
    assert transcript.transcript.segments[0].recording == recording.name
    assert transcript.transcript.word_count > 5
    stored = (await ana.GetRecording(m.GetRecordingRequest(name=recording.name))).recording
    assert stored.state == meeting_pb2.RECORDING_STATE_TRANSCRIBED
    assert stored.transcription.startswith("transcriptions/")
    assert stored.duration.seconds > 0
    speech = User(mesh.speech, tokens.metadata(subject=ana_subject))
    job = await speech.GetTranscription(
        speech_pb2.GetTranscriptionRequest(name=stored.transcription)
    )
    assert job.transcription.owner == ana_subject  # counted against ana's limits and quotas
    assert job.transcription.actor == "services/meetings"
    mine = speech_pb2.ListTranscriptionsRequest(external_reference=recording.name)
    listed = await speech.ListTranscriptions(mine)
    assert [t.name for t in listed.transcriptions] == [stored.transcription]
    stranger = User(mesh.speech, tokens.metadata(subject="users/not-ana"))
    assert (await stranger.ListTranscriptions(mine)).total_size == 0
    summary = (await ana.GetSummary(m.GetSummaryRequest(name=f"{name}/summary"))).summary
    assert summary.state == meeting_pb2.PROCESSING_STATE_COMPLETED, summary.error
    assert summary.revision == 1
    assert summary.model  # which model wrote it
    # Whatever the tiny model said, parsed into some section: SmolLM2 with this run's names in
    # the prompt may write any of them and leave the others (once only its PARTICIPANTS).
    sections = (summary.text, summary.key_points, summary.decisions, summary.commitments,
                summary.next_steps, summary.participants)  # fmt: skip
    assert any(sections), summary
    seen = (await ana.GetMeeting(m.GetMeetingRequest(name=name))).meeting
    assert seen.recording_count == 1
    assert seen.transcript_state == meeting_pb2.PROCESSING_STATE_COMPLETED

    again = await ana.RegenerateSummary(
        m.RegenerateSummaryRequest(name=name, instructions="Focus on deadlines.")
    )
    assert again.summary.state == meeting_pb2.PROCESSING_STATE_RUNNING
    assert again.summary.revision == 2

    async def regenerated() -> bool:
        reply = await ana.GetSummary(m.GetSummaryRequest(name=f"{name}/summary"))
        return reply.summary.state == meeting_pb2.PROCESSING_STATE_COMPLETED

    await eventually(regenerated, within=120)


def big_wav(clip: Clip, seconds: float) -> bytes:
    """`clip` at 48 kHz stereo followed by silence up to `seconds`: over 25 MiB (the old
    one-message limit) in a few minutes of audio, quick to transcribe."""
    rate = 48_000
    said = clip.audio.samples
    upsampled = np.interp(np.arange(len(said) * 3) / 3, np.arange(len(said)), said)
    samples = np.zeros(int(seconds * rate), dtype="<i2")
    samples[rate : rate + len(upsampled)] = (upsampled * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(samples, 2).tobytes())
    return buffer.getvalue()


async def test_a_recording_over_25_mib_reaches_speech_by_reference(
    ana: User,
    nats_module: NatsServer,
    piper_clip: Clip,  # noqa: F811
):
    audio = big_wav(piper_clip, seconds=150)
    assert len(audio) > 27 * 2**20
    meeting = await new_meeting(ana)
    recording = await upload(ana, meeting.name, audio)

    async def read() -> meeting_pb2.Recording:
        return (await ana.GetRecording(m.GetRecordingRequest(name=recording.name))).recording

    async def finished() -> bool:
        return (await read()).state in (
            meeting_pb2.RECORDING_STATE_TRANSCRIBED,
            meeting_pb2.RECORDING_STATE_FAILED,
        )

    await eventually(finished, within=180)
    stored = await read()
    assert stored.state == meeting_pb2.RECORDING_STATE_TRANSCRIBED, stored.error
    assert 149 <= stored.duration.seconds <= 151
    transcript = await ana.GetTranscript(m.GetTranscriptRequest(name=f"{meeting.name}/transcript"))
    assert "report" in transcript.transcript.text.lower()
    client = await nats.connect(nats_module.url)
    try:  # the object handed over is gone once speech has taken it
        objects = Objects(client.jetstream(), "meetings")
        gone = ObjectRef(objects.bucket, f"recording-{recording.name.rsplit('/', 1)[-1]}")
        with pytest.raises(ObjectNotFound):
            await objects.info(gone)
    finally:
        await client.close()


async def test_a_redelivered_completion_has_its_effect_once(
    ana: User,
    ana_subject: str,
    mesh,
    nats_module,
    piper_clip: Clip,  # noqa: F811
):
    meeting = await new_meeting(ana)
    recording = await upload(ana, meeting.name, piper_clip.wav)
    name = meeting.name

    async def transcribed() -> bool:
        reply = await ana.GetRecording(m.GetRecordingRequest(name=recording.name))
        return reply.recording.state == meeting_pb2.RECORDING_STATE_TRANSCRIBED

    await eventually(transcribed, within=120)
    before = await ana.GetTranscript(m.GetTranscriptRequest(name=f"{name}/transcript"))
    stored = (await ana.GetRecording(m.GetRecordingRequest(name=recording.name))).recording
    event = speech_events.TranscriptionCompletedEvent(
        transcription=stored.transcription,
        owner=ana_subject,  # the uploader's job
        external_reference=recording.name,
        result=speech_pb2.TranscriptionResult(
            text="injected", segments=[speech_pb2.TranscriptSegment(text="injected")]
        ),
    )
    forged = speech_events.TranscriptionCompletedEvent()
    forged.CopyFrom(event)
    forged.owner = "users/mallory"
    client = await nats.connect(nats_module.url)
    js = client.jetstream()
    subject = "voka.speech.transcription.completed"
    kind = event.DESCRIPTOR.full_name
    for event_id, message in (
        ("again-1", event),
        ("again-1", event),
        ("forged", forged),
        ("again-2", event),
    ):
        headers = {EVENT_ID: event_id, EVENT_TYPE: kind, "Nats-Msg-Id": uuid.uuid4().hex}
        await js.publish(subject, message.SerializeToString(), headers=headers)
    await client.close()

    async def redelivered_events_handled() -> bool:
        info = await _consumer(nats_module.url)
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(redelivered_events_handled, within=30)
    after = await ana.GetTranscript(m.GetTranscriptRequest(name=f"{name}/transcript"))
    assert after.transcript.segments == before.transcript.segments
    assert "injected" not in after.transcript.text


async def _consumer(url: str):
    client = await nats.connect(url)
    try:
        return await client.jetstream().consumer_info("VOKA_SPEECH", "meetings-speech-results")
    finally:
        await client.close()
