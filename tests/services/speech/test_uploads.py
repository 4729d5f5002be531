"""Audio for jobs that does not fit one message: UploadTranscription (a client stream written to
disk as it comes) and CreateTranscription's `audio_uri` (an object of the mesh's object store
handed over by a service for a user), with their bounds and who may do what."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from google.api import httpbody_pb2

from services.speech.blobs import UPLOADS, Blobs
from services.speech.uploads import Uploads
from tests.fixtures.tokens import TokenFactory
from tests.services.speech.conftest import Clip, service_settings
from tests.services.speech.rpc import violations, wait_final
from tests.services.speech.wer import wer
from tools.processes import NatsServer
from voka import peer_calls
from voka.bus import Bus
from voka.errors import VokaError
from voka.objects import Objects, StoredObject
from voka.speech.v1 import speech_pb2

pytestmark = pytest.mark.integration


def _stream(data: bytes, size: int, **first: object) -> list[speech_pb2.UploadTranscriptionRequest]:
    """The audio in messages of `size` bytes, the options on the first."""
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    return [
        speech_pb2.UploadTranscriptionRequest(
            body=httpbody_pb2.HttpBody(data=piece), **(first if i == 0 else {})
        )
        for i, piece in enumerate(pieces)
    ]


async def test_a_streamed_upload_is_stored_whole_and_transcribed(
    stub, tokens: TokenFactory, piper_clip: Clip
) -> None:
    me = tokens.metadata(subject="users/uma")
    messages = _stream(piper_clip.wav, 16_384, config=speech_pb2.RecognitionConfig(language="en"),
                       file_name="clip.wav", external_reference="up-1")  # fmt: skip
    assert len(messages) > 3
    job = (await stub.UploadTranscription(iter(messages), metadata=me)).transcription
    assert (job.size_bytes, job.content_type) == (len(piper_clip.wav), "audio/wav")
    assert job.sha256 == hashlib.sha256(piper_clip.wav).hexdigest()
    assert (job.file_name, job.external_reference) == ("clip.wav", "up-1")
    done = await wait_final(stub, job.name, me)
    assert done.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED, done.error
    assert wer(piper_clip.text, done.result.text) <= 0.1


async def test_a_stream_that_is_not_audio_is_refused_on_body(stub, tokens: TokenFactory) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.UploadTranscription(
            iter(_stream(b"%PDF-1.7 " * 5000, 4096)), metadata=tokens.metadata()
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unsupported_format" in violations(refused.value)["body"]


async def test_a_stream_past_the_limit_is_refused_and_leaves_nothing(
    tokens: TokenFactory, nats: NatsServer, models_dir: Path, tmp_path: Path, piper_clip: Clip
) -> None:
    settings = service_settings(tokens, nats.url, models_dir, tmp_path,
                                speech_max_stream_upload_bytes=50_000)  # fmt: skip
    blobs = Blobs(tmp_path / "speech")
    bus = await Bus.connect(nats.url, name="test-uploads")
    try:
        uploads = Uploads(blobs, Objects(bus.js, "speech"), settings)

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(piper_clip.wav), 10_000):
                yield piper_clip.wav[i : i + 10_000]

        with pytest.raises(VokaError) as refused:
            await uploads.from_stream(chunks())
        assert refused.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert not any((tmp_path / "speech" / UPLOADS).iterdir())
    finally:
        await bus.close()


@pytest.fixture
async def meetings_object(nats: NatsServer, piper_clip: Clip, tmp_path: Path) -> StoredObject:
    """The clip stored by the meetings service for users/ana."""
    path = tmp_path / "recording.wav"
    path.write_bytes(piper_clip.wav)
    bus = await Bus.connect(nats.url, name="test-meetings")
    try:
        objects = await Objects(bus.js, "meetings").open(max_bytes=10**8, max_age=3600)
        return await objects.put_file(path, owner="users/ana", content_type="audio/wav")
    finally:
        await bus.close()


def _service_for(tokens: TokenFactory, user: str) -> tuple[tuple[str, str], ...]:
    token = tokens.mint("services/meetings", roles=("service",))
    return (("authorization", f"Bearer {token}"), *peer_calls.on_behalf_of(user))


async def test_an_object_is_taken_from_a_service_for_its_owner_only(
    stub, tokens: TokenFactory, meetings_object: StoredObject, piper_clip: Clip
) -> None:
    request = speech_pb2.CreateTranscriptionRequest(
        audio_uri=str(meetings_object.ref), config=speech_pb2.RecognitionConfig(language="en")
    )
    refusals = {
        "a user passing a reference": tokens.metadata(subject="users/ana"),
        "a service for another user": _service_for(tokens, "users/bob"),
    }
    for why, metadata in refusals.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.CreateTranscription(request, metadata=metadata)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, why
        assert "audio_uri" in violations(refused.value), why
    missing = speech_pb2.CreateTranscriptionRequest(audio_uri="objects://voka-meetings/nothing")
    with pytest.raises(grpc.aio.AioRpcError) as absent:
        await stub.CreateTranscription(missing, metadata=_service_for(tokens, "users/ana"))
    assert absent.value.code() == grpc.StatusCode.NOT_FOUND

    ana = _service_for(tokens, "users/ana")
    job = (await stub.CreateTranscription(request, metadata=ana)).transcription
    assert (job.owner, job.actor) == ("users/ana", "services/meetings")
    assert (job.size_bytes, job.sha256) == (meetings_object.size, meetings_object.sha256)
    done = await wait_final(stub, job.name, tokens.metadata(subject="users/ana"))
    assert done.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED, done.error
    assert wer(piper_clip.text, done.result.text) <= 0.1
