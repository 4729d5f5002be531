"""Asynchronous transcriptions through gRPC, with the embedded worker over real NATS:
results, events, watch, corrupt audio, cancel, delete, idempotency and per-user isolation."""

from __future__ import annotations

import asyncio

import grpc
import nats
import pytest
from google.rpc import code_pb2
from nats.aio.client import Client

from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import Clip
from tests.services.speech.rpc import long_wav, upload, violations, wait_final, wait_state
from tests.services.speech.wer import wer
from tools.processes import NatsServer
from voka import peer_calls
from voka.speech.v1 import events_pb2, speech_pb2

pytestmark = pytest.mark.integration


async def test_job_succeeds_publishes_completed_and_watch_follows_it(
    stub, tokens: TokenFactory, nats: NatsServer, piper_clip: Clip
):
    me = tokens.metadata(subject="users/alice")
    client = await _nats(nats)
    completed: asyncio.Queue[events_pb2.TranscriptionCompletedEvent] = asyncio.Queue()

    async def on_completed(msg) -> None:
        completed.put_nowait(events_pb2.TranscriptionCompletedEvent.FromString(msg.data))

    await client.subscribe("voka.speech.transcription.completed", cb=on_completed)
    created = await stub.CreateTranscription(
        upload(piper_clip.wav, file_name="memo.wav", external_reference="meetings/m1",
               config=speech_pb2.RecognitionConfig(word_timestamps=True)),
        metadata=me,
    )  # fmt: skip
    job = created.transcription
    assert job.state == speech_pb2.TRANSCRIPTION_STATE_QUEUED
    assert (job.owner, job.content_type, job.size_bytes) == (
        "users/alice",
        "audio/wav",
        len(piper_clip.wav),
    )
    seen = [m.transcription async for m in stub.WatchTranscription(
        speech_pb2.WatchTranscriptionRequest(name=job.name), metadata=me)]  # fmt: skip
    final = seen[-1]
    assert final.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED
    assert wer(piper_clip.text, final.result.text) <= 0.1, final.result.text
    assert final.result.segments
    assert final.result.segments[0].words  # the last message is FULL
    assert (final.attempts, final.progress_percent) == (1, 100)
    assert final.audio_duration.ToTimedelta().total_seconds() == pytest.approx(
        piper_clip.audio.duration, abs=0.05
    )
    event = await asyncio.wait_for(completed.get(), 10)
    assert (event.transcription, event.external_reference) == (job.name, "meetings/m1")
    assert event.result.text == final.result.text
    await client.close()


async def _nats(server: NatsServer) -> Client:
    return await nats.connect(server.url)


async def test_corrupt_audio_fails_once_with_the_reason(stub, tokens: TokenFactory):
    me = tokens.metadata(subject="users/alice")
    created = await stub.CreateTranscription(upload(b"OggS" + bytes(range(256)) * 40), metadata=me)
    final = await wait_final(stub, created.transcription.name, me)
    assert final.state == speech_pb2.TRANSCRIPTION_STATE_FAILED
    assert final.error.code == code_pb2.INVALID_ARGUMENT
    assert "corrupt" in final.error.message
    assert final.attempts == 1


async def test_not_audio_is_refused_before_it_is_stored(stub, tokens: TokenFactory):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateTranscription(upload(b"%PDF-1.7 not audio"), metadata=tokens.metadata())
    assert "unsupported_format" in violations(err.value)["body"]


async def test_cancel_queued_and_running_jobs_then_delete(
    stub, tokens: TokenFactory, piper_clip: Clip, piper_clip_2: Clip
):
    me = tokens.metadata(subject="users/carol")
    long = long_wav(piper_clip.audio.samples, piper_clip_2.audio.samples, times=8)
    running = (await stub.CreateTranscription(upload(long), metadata=me)).transcription
    queued = (await stub.CreateTranscription(upload(piper_clip.wav), metadata=me)).transcription
    await wait_state(stub, running.name, me, speech_pb2.TRANSCRIPTION_STATE_RUNNING)
    gone = await stub.CancelTranscription(
        speech_pb2.CancelTranscriptionRequest(name=queued.name, reason="not needed"), metadata=me
    )
    assert gone.transcription.state == speech_pb2.TRANSCRIPTION_STATE_CANCELLED
    assert gone.transcription.error.message == "not needed"
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.DeleteTranscription(
            speech_pb2.DeleteTranscriptionRequest(name=running.name), metadata=me
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    asked = await stub.CancelTranscription(speech_pb2.CancelTranscriptionRequest(name=running.name),
                                           metadata=me)  # fmt: skip
    assert asked.transcription.cancel_requested
    final = await wait_final(stub, running.name, me)
    assert final.state == speech_pb2.TRANSCRIPTION_STATE_CANCELLED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CancelTranscription(
            speech_pb2.CancelTranscriptionRequest(name=queued.name), metadata=me
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    for name in (running.name, queued.name):
        await stub.DeleteTranscription(
            speech_pb2.DeleteTranscriptionRequest(name=name), metadata=me
        )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _get(stub, queued.name, me)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def _get(stub, name: str, metadata) -> speech_pb2.Transcription:
    return (await stub.GetTranscription(speech_pb2.GetTranscriptionRequest(name=name),
                                        metadata=metadata)).transcription  # fmt: skip


async def test_request_id_returns_the_same_job(stub, tokens: TokenFactory, piper_clip: Clip):
    me = tokens.metadata(subject="users/dave")
    first = await stub.CreateTranscription(upload(piper_clip.wav, request_id="r-1"), metadata=me)
    again = await stub.CreateTranscription(upload(piper_clip.wav, request_id="r-1"), metadata=me)
    assert again.transcription.name == first.transcription.name
    erin = tokens.metadata(subject="users/erin")
    other = await stub.CreateTranscription(upload(piper_clip.wav, request_id="r-1"), metadata=erin)
    assert other.transcription.name != first.transcription.name


async def test_jobs_are_private_to_their_owner_and_admins_see_all(
    stub, tokens: TokenFactory, piper_clip: Clip
):
    frank, grace = tokens.metadata(subject="users/frank"), tokens.metadata(subject="users/grace")
    names = []
    for i in range(3):
        request = upload(piper_clip.wav, external_reference=f"r{i}")
        names.append((await stub.CreateTranscription(request, metadata=frank)).transcription.name)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _get(stub, names[0], grace)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CancelTranscription(
            speech_pb2.CancelTranscriptionRequest(name=names[0]), metadata=grace
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert (
        await stub.ListTranscriptions(speech_pb2.ListTranscriptionsRequest(), metadata=grace)
    ).total_size == 0
    page = await stub.ListTranscriptions(
        speech_pb2.ListTranscriptionsRequest(page_size=2), metadata=frank
    )
    rest = await stub.ListTranscriptions(
        speech_pb2.ListTranscriptionsRequest(page_size=2, page_token=page.next_page_token),
        metadata=frank,
    )
    assert [t.name for t in [*page.transcriptions, *rest.transcriptions]] == names[::-1]
    assert page.total_size == 3
    assert not rest.next_page_token
    admin = tokens.metadata(subject="users/root", roles=("user", "admin"))
    franks = await stub.ListTranscriptions(
        speech_pb2.ListTranscriptionsRequest(owner="users/frank"), metadata=admin
    )
    assert franks.total_size == 3
    by_reference = await stub.ListTranscriptions(
        speech_pb2.ListTranscriptionsRequest(external_reference="r1"), metadata=frank
    )
    assert [t.name for t in by_reference.transcriptions] == [names[1]]
    for name in names:
        await wait_final(stub, name, frank)


async def test_a_job_asked_for_a_user_is_listed_as_theirs(
    stub, tokens: TokenFactory, piper_clip: Clip
):
    """What the meetings pipeline does with a recording: its own token, naming the uploader."""
    meetings = (
        tokens.metadata(subject="services/meetings", roles=("service",))[0],
        *peer_calls.on_behalf_of("users/mona"),
    )
    recording = "meetings/m9/recordings/r1"
    asked = await stub.CreateTranscription(
        upload(piper_clip.wav, external_reference=recording), metadata=meetings
    )
    job = asked.transcription
    assert (job.owner, job.actor) == ("users/mona", "services/meetings")
    mona, nils = tokens.metadata(subject="users/mona"), tokens.metadata(subject="users/nils")
    own = await stub.CreateTranscription(upload(piper_clip.wav), metadata=mona)
    assert own.transcription.actor == ""
    listed = await stub.ListTranscriptions(speech_pb2.ListTranscriptionsRequest(), metadata=mona)
    assert {(t.name, t.actor) for t in listed.transcriptions} == {
        (job.name, "services/meetings"), (own.transcription.name, ""),
    }  # fmt: skip
    got = await stub.GetTranscription(speech_pb2.GetTranscriptionRequest(name=job.name),
                                      metadata=mona)  # fmt: skip
    assert got.transcription.external_reference == recording
    others = await stub.ListTranscriptions(speech_pb2.ListTranscriptionsRequest(), metadata=nils)
    assert job.name not in {t.name for t in others.transcriptions}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTranscription(speech_pb2.GetTranscriptionRequest(name=job.name),
                                    metadata=nils)  # fmt: skip
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    for name in (job.name, own.transcription.name):  # let the worker finish before teardown
        await wait_final(stub, name, mona)
