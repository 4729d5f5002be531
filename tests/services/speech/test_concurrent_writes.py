"""Writes by one user at the same time all succeed (issue 15, item 2), on SQLite and on
PostgreSQL: 60 concurrent voice-sample uploads, renames and deletions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2

from services.speech.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.concurrency import failures, serving
from tests.services.speech.conftest import service_settings
from tests.services.speech.rpc import wav_claiming
from tools.processes import NatsServer
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

WRITES = 60


@pytest.fixture
async def stub(
    tokens: TokenFactory, nats: NatsServer, tmp_path: Path, database_url: str
) -> AsyncIterator[speech_pb2_grpc.SpeechServiceStub]:
    """The service without models (samples need none), on SQLite and on PostgreSQL."""
    settings = service_settings(
        tokens, nats.url, tmp_path / "models", tmp_path / "data",
        database_url=database_url, speech_sample_max_count=WRITES,
    )  # fmt: skip
    async with serving(SPEC, settings, speech_pb2_grpc.SpeechServiceStub) as stub:
        yield stub


async def test_sixty_concurrent_sample_writes_all_succeed(
    stub: speech_pb2_grpc.SpeechServiceStub, tokens: TokenFactory
) -> None:
    me = tokens.metadata(subject="users/sam")
    audio = httpbody_pb2.HttpBody(data=wav_claiming(16_000 * 2))  # a second of silence

    async def upload(n: int) -> str:
        request = speech_pb2.CreateVoiceSampleRequest(body=audio, file_name=f"s{n}.wav")
        return str((await stub.CreateVoiceSample(request, metadata=me)).voice_sample.name)

    existing = [await upload(n) for n in range(WRITES // 3 * 2)]

    def write(n: int) -> Awaitable[object]:
        if n % 3 == 0:
            return upload(WRITES + n)
        name = existing[n // 3 * 2 + n % 3 - 1]
        if n % 3 == 1:
            changed = speech_pb2.VoiceSample(name=name, display_name=f"renamed {n}")
            mask = field_mask_pb2.FieldMask(paths=["display_name"])
            return stub.UpdateVoiceSample(
                speech_pb2.UpdateVoiceSampleRequest(voice_sample=changed, update_mask=mask),
                metadata=me,
            )
        return stub.DeleteVoiceSample(speech_pb2.DeleteVoiceSampleRequest(name=name), metadata=me)

    assert await failures(write(n) for n in range(WRITES)) == []
    listed = await stub.ListVoiceSamples(
        speech_pb2.ListVoiceSamplesRequest(page_size=100), metadata=me
    )
    names = sorted(s.display_name for s in listed.voice_samples)
    assert names == sorted(
        [f"s{WRITES + n}.wav" for n in range(0, WRITES, 3)]
        + [f"renamed {n}" for n in range(1, WRITES, 3)]
    )
