"""A deleted account's transcription jobs, voice samples and text entries go, rows and files,
when auth announces the deletion on NATS; other users keep theirs."""

from __future__ import annotations

from pathlib import Path

from google.api import httpbody_pb2

from tests.fixtures.nats import announce_user_deleted
from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tests.services.speech.conftest import Clip
from tests.services.speech.rpc import upload, wait_final
from tools.processes import NatsServer
from voka.server import Running
from voka.speech.v1 import speech_pb2, speech_pb2_grpc


async def test_deleted_user_jobs_samples_and_entries_are_erased(
    stub: speech_pb2_grpc.SpeechServiceStub,
    service: Running,
    tokens: TokenFactory,
    nats: NatsServer,
    piper_clip: Clip,
) -> None:
    users = {name: tokens.metadata(subject=f"users/{name}-erasure") for name in ("gone", "stays")}
    for metadata in users.values():
        job = await stub.CreateTranscription(upload(piper_clip.wav), metadata=metadata)
        await wait_final(stub, job.transcription.name, metadata)
        sample = speech_pb2.CreateVoiceSampleRequest(
            body=httpbody_pb2.HttpBody(data=piper_clip.wav)
        )
        await stub.CreateVoiceSample(sample, metadata=metadata)
        entry = speech_pb2.CreateTextEntryRequest(
            body=httpbody_pb2.HttpBody(data=piper_clip.wav), original_text=piper_clip.text
        )
        await stub.CreateTextEntry(entry, metadata=metadata)
    files = stored_files(service)

    await announce_user_deleted(nats.url, "users/gone-erasure")

    async def counts(metadata: object) -> tuple[int, int, int]:
        jobs = await stub.ListTranscriptions(
            speech_pb2.ListTranscriptionsRequest(), metadata=metadata
        )
        samples = await stub.ListVoiceSamples(
            speech_pb2.ListVoiceSamplesRequest(), metadata=metadata
        )
        entries = await stub.ListTextEntries(speech_pb2.ListTextEntriesRequest(), metadata=metadata)
        return jobs.total_size, samples.total_size, entries.total_size

    async def erased() -> bool:
        return await counts(users["gone"]) == (0, 0, 0)

    await eventually(erased)
    assert await counts(users["stays"]) == (1, 1, 1)
    assert len(stored_files(service)) == len(files) - 3  # the upload, the sample, the entry


def stored_files(service: Running) -> list[Path]:
    root = service.resources.settings.data_dir / "speech"
    return [p for p in root.rglob("*") if p.is_file() and "models" not in p.parts]
