"""Shared fixtures and helpers of the meetings tests: the real service in process over gRPC,
on an SQLite file and on a fresh PostgreSQL database (every test using `service` runs on both),
users with their own tokens, and checks of error answers."""

from __future__ import annotations

import dataclasses
import io
import math
import struct
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api import httpbody_pb2
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.assistant.service import SPEC as ASSISTANT
from services.meetings import peers
from services.meetings.chat.records import ChatRecord
from services.meetings.database import Database
from services.meetings.meetings.records import (
    Commitment,
    RecordingRecord,
    SegmentRecord,
    SummaryContent,
    SummaryRecord,
)
from services.meetings.service import SPEC
from tests.fixtures.callers import User
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import assistant_settings
from tools.processes import NatsServer
from voka.config import Settings
from voka.meetings.v1 import (
    client_pb2,
    knowledge_pb2,
    meeting_pb2,
    meetings_pb2,
    meetings_pb2_grpc,
    project_pb2,
)
from voka.server import Running, start
from voka.service_identity import ServiceIdentity

m = meetings_pb2


@pytest.fixture(scope="module")
def nats_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """One NATS server for a module's peers (the assistant, the speech service)."""
    server = NatsServer(tmp_path_factory.mktemp("nats"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def assistant(
    tokens: TokenFactory, nats_module: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """The real assistant service, loaded once for the module; its address."""
    data = tmp_path_factory.mktemp("assistant")
    running = await start(
        ASSISTANT,
        assistant_settings(tokens, nats_module, data, f"sqlite:///{data / 'assistant.db'}"),
    )
    yield f"127.0.0.1:{running.port}"
    await running.stop()


@pytest.fixture(scope="module")
def identity(tokens: TokenFactory) -> Iterator[None]:
    """The meetings service's identity as auth's IssueServiceToken would give it."""

    async def issue(service: str, secret: str) -> tuple[str, float]:
        token = tokens.mint(subject=f"services/{service}", roles=("service",), ttl=300)
        return token, time.time() + 300

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(peers, "own_identity", lambda _: ServiceIdentity("meetings", "t", issue))
        yield


@pytest.fixture
def settings(tokens: TokenFactory, tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        service="meetings",
        port=0,
        data_dir=tmp_path,
        jwks_file=tokens.jwks_file,
        database_url=database_url,
    )


async def start_meetings(settings: Settings) -> Running:
    """The real service (migrations included), without NATS: these tests need no events."""
    return await start(dataclasses.replace(SPEC, bus=False), settings)


@pytest.fixture
async def service(settings: Settings) -> AsyncIterator[Running]:
    running = await start_meetings(settings)
    yield running
    await running.stop()


@pytest.fixture
async def stub(service: Running) -> AsyncIterator[meetings_pb2_grpc.MeetingsServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield meetings_pb2_grpc.MeetingsServiceStub(channel)


@pytest.fixture
def alice(stub, tokens: TokenFactory) -> User:
    return User(stub, tokens.metadata(subject="users/alice"))


@pytest.fixture
def bob(stub, tokens: TokenFactory) -> User:
    return User(stub, tokens.metadata(subject="users/bob"))


async def failure(call: Awaitable[Any], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == code, info.value.details()
    return info.value


async def violations(call: Awaitable[Any]) -> list[tuple[str, str]]:
    """The BadRequest field violations of a call that must fail with INVALID_ARGUMENT."""
    error = await failure(call, grpc.StatusCode.INVALID_ARGUMENT)
    status = rpc_status.from_call(error)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    return [(v.field, v.description) for v in bad.field_violations]


async def bad_fields(call: Awaitable[Any]) -> set[str]:
    return {field for field, _ in await violations(call)}


async def new_client(user: User, **fields: Any) -> client_pb2.Client:
    client = client_pb2.Client(**{"display_name": "Acme"} | fields)
    return (await user.CreateClient(m.CreateClientRequest(client=client))).client


async def new_project(user: User, **fields: Any) -> project_pb2.Project:
    project = project_pb2.Project(**{"title": "Website"} | fields)
    return (await user.CreateProject(m.CreateProjectRequest(project=project))).project


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def pages(user: User, rpc: str, field: str, **request: Any) -> list[list[str]]:
    """Names on each page of a list, following next_page_token to the end."""
    request_type = getattr(m, f"{rpc}Request")
    found, token = [], ""
    while True:
        reply = await getattr(user, rpc)(request_type(page_token=token, **request))
        found.append([item.name for item in getattr(reply, field)])
        token = reply.next_page_token
        if not token:
            return found


def wav(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    """A short mono tone as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (int(8000 * math.sin(i / 10)) for i in range(int(seconds * rate)))
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


async def upload(
    user: User, parent: str, data: bytes, content_type: str = "audio/wav"
) -> meetings_pb2.UploadRecordingResponse:
    """UploadRecording as a client streams it: the metadata with the first chunk."""
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)] or [b""]

    async def messages():
        yield m.UploadRecordingRequest(
            parent=parent,
            file_name="call.wav",
            language="en",
            skip_summary=False,
            body=httpbody_pb2.HttpBody(content_type=content_type, data=chunks[0]),
        )
        for chunk in chunks[1:]:
            yield m.UploadRecordingRequest(body=httpbody_pb2.HttpBody(data=chunk))

    return await user.UploadRecording(messages())


LAUNCH_SUMMARY = SummaryContent(
    text="The team agreed the launch date.", decisions=("Launch in March",),
    commitments=(Commitment("send the budget", "Ana", "2030-01-20"),),
    next_steps=("Book the venue",),
)  # fmt: skip
LAUNCH_TRANSCRIPT = ("Ana will send the budget by Friday.", "The launch moves to March.")


async def seed_meeting(
    user: User, service: Running, project: str, title: str, *,
    start: datetime = datetime(2030, 1, 15, 10, tzinfo=UTC),
    summary: SummaryContent = LAUNCH_SUMMARY, said: tuple[str, ...] = LAUNCH_TRANSCRIPT,
) -> str:  # fmt: skip
    """A meeting of `project` (made over gRPC) with a transcribed recording and a completed
    summary written as the pipeline leaves them, without running speech or a model."""
    meeting = meeting_pb2.Meeting(title=title, project=project,
                                  description="Agenda: budget and launch")  # fmt: skip
    meeting.start_time.FromDatetime(start)
    made = (await user.CreateMeeting(m.CreateMeetingRequest(meeting=meeting))).meeting
    meeting_id = made.name.removeprefix("meetings/")
    recording_id, at = f"r{meeting_id[:20]}", datetime.now(UTC)
    assert service.resources.sessions is not None
    async with Database(service.resources.sessions).transaction() as stores:
        await stores.recordings.add(RecordingRecord(
            id=recording_id, meeting_id=meeting_id, uploader="users/alice", file_name="a.wav",
            content_type="audio/wav", size_bytes=1, sha256="0", path="/none",
            duration_ms=60_000, language="en", state=meeting_pb2.RECORDING_STATE_TRANSCRIBED,
            transcription="", error="", meeting_offset_ms=0, summarize=True, create_time=at,
        ))  # fmt: skip
        await stores.recordings.add_segments(meeting_id, [
            SegmentRecord(recording_id, i, i * 5000, i * 5000 + 4000, "", text)
            for i, text in enumerate(said)
        ])  # fmt: skip
        await stores.summaries.put(SummaryRecord(
            meeting_id, meeting_pb2.PROCESSING_STATE_COMPLETED, 1, summary, "en", "local/test",
            "", "", at, at,
        ))  # fmt: skip
    return made.name


async def add_chat(
    service: Running, project: str, text: str, role: int = knowledge_pb2.CHAT_ROLE_USER
) -> None:
    """A chat message of `project` stored as AskProject leaves it, without the assistant."""
    assert service.resources.sessions is not None
    record = ChatRecord(f"c{abs(hash(text))}", project.removeprefix("projects/"), role, text,
                        datetime(2030, 2, 1, tzinfo=UTC), author="users/alice")  # fmt: skip
    async with Database(service.resources.sessions).transaction() as stores:
        await stores.chat.add([record])
