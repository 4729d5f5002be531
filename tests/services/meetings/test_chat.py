"""Project chat with the real assistant service (the packaged SmolLM2, a few tokens per
answer) on SQLite and PostgreSQL: answers with numbered sources from the project's summaries
and transcripts, the stream relaying the assistant's deltas, the history kept per project and
paged, owner-only access, field violations, a cancelled stream, and an assistant that is down,
overloaded or refusing mapped to the caller's status naming it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.meetings.chat.records import ChatRecord
from services.meetings.database import Database
from services.meetings.service import SPEC
from services.meetings.settings import MeetingsSettings
from tests.fixtures.tokens import TokenFactory
from tests.services.meetings.conftest import User, bad_fields, failure, new_project, seed_meeting
from voka.assistant.v1 import assistant_pb2_grpc
from voka.meetings.v1 import knowledge_pb2, meeting_pb2, meetings_pb2, meetings_pb2_grpc
from voka.server import Running, start

pytestmark = pytest.mark.integration
m, M, K = meetings_pb2, meeting_pb2, knowledge_pb2
Start = Callable[[str], Awaitable[Running]]


@pytest.fixture
async def start_meetings(
    tokens: TokenFactory, tmp_path: Path, database_url: str, identity: None
) -> AsyncIterator[Start]:
    """Starts the meetings service (no NATS: chat needs none) calling the assistant at an
    address; stopped after the test."""
    started: list[Running] = []

    async def run(assistant_address: str) -> Running:
        settings = MeetingsSettings(
            service="meetings", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file,
            database_url=database_url, meetings_chat_max_tokens=12,
            meetings_chat_context_chars=1200, addresses={"assistant": assistant_address},
        )  # fmt: skip
        running = await start(dataclasses.replace(SPEC, bus=False), settings)
        started.append(running)
        return running

    yield run
    for running in started:
        await running.stop()


@pytest.fixture
async def service(start_meetings: Start, assistant: str) -> Running:
    return await start_meetings(assistant)


@pytest.fixture
async def stub(service: Running) -> AsyncIterator[meetings_pb2_grpc.MeetingsServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield meetings_pb2_grpc.MeetingsServiceStub(channel)


async def test_ask_answers_with_sources_and_keeps_the_turn(alice: User, service: Running):
    project = await new_project(alice, description="A new website for Acme.")
    meeting = await seed_meeting(alice, service, project.name, "Budget review")
    reply = await alice.AskProject(
        m.AskProjectRequest(project=project.name, question="When is the launch?")
    )
    question, answer = reply.question, reply.answer
    assert question.role == K.CHAT_ROLE_USER
    assert question.author == "users/alice"
    assert question.content == "When is the launch?"
    assert answer.role == K.CHAT_ROLE_ASSISTANT
    assert answer.reply_to == question.name
    assert answer.model  # which model answered
    assert answer.citations
    kinds = {c.source.kind for c in answer.citations}
    assert kinds <= {K.SOURCE_KIND_SUMMARY, K.SOURCE_KIND_TRANSCRIPT, K.SOURCE_KIND_PROJECT}
    best = max(answer.citations, key=lambda c: c.score)
    assert best.source.meeting == meeting
    assert "launch" in best.snippet.lower()
    listed = await alice.ListChatMessages(m.ListChatMessagesRequest(parent=project.name))
    assert [c.name for c in listed.chat_messages] == [question.name, answer.name]
    assert listed.chat_messages[1].citations == answer.citations


async def test_stream_relays_deltas_then_the_answer(alice: User, service: Running):
    project = await new_project(alice)
    await seed_meeting(alice, service, project.name, "Kick-off")
    request = m.StreamAskProjectRequest(project=project.name, question="Who sends the budget?",
                                        max_sources=2)  # fmt: skip
    events = [e async for e in alice.StreamAskProject(request)]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[0] == "question"
    assert kinds[1:3] == ["citation", "citation"]
    assert kinds[-1] == "answer"
    assert set(kinds[3:-1]) == {"text_delta"}
    answer = events[-1].answer
    assert answer.content == "".join(e.text_delta for e in events[3:-1])
    assert answer.content
    listed = await alice.ListChatMessages(m.ListChatMessagesRequest(parent=project.name))
    assert [c.name for c in listed.chat_messages] == [events[0].question.name, answer.name]


async def test_an_ephemeral_ask_keeps_nothing(alice: User, service: Running):
    project = await new_project(alice)
    reply = await alice.AskProject(
        m.AskProjectRequest(project=project.name, question="Status?", ephemeral=True)
    )
    assert not reply.HasField("question")
    assert reply.answer.name == ""
    listed = await alice.ListChatMessages(m.ListChatMessagesRequest(parent=project.name))
    assert list(listed.chat_messages) == []


async def test_only_the_owner_may_ask_or_read(alice: User, bob: User, service: Running):
    project = await new_project(alice)
    ask = m.AskProjectRequest(project=project.name, question="Budget?")
    await failure(bob.AskProject(ask), grpc.StatusCode.NOT_FOUND)
    stream = m.StreamAskProjectRequest(project=project.name, question="Budget?")
    await failure(_drain(bob.StreamAskProject(stream)), grpc.StatusCode.NOT_FOUND)
    listing = m.ListChatMessagesRequest(parent=project.name)
    await failure(bob.ListChatMessages(listing), grpc.StatusCode.NOT_FOUND)


async def test_bad_fields_are_named(alice: User, service: Running):
    request = m.AskProjectRequest(project="nope", question=" ", max_sources=21,
                                  meetings=["x/y"], language="!!")  # fmt: skip
    assert await bad_fields(alice.AskProject(request)) == {
        "project", "question", "max_sources", "meetings[0]", "language",
    }  # fmt: skip
    mine, other = await new_project(alice), await new_project(alice)
    elsewhere = await seed_meeting(alice, service, other.name, "Elsewhere")
    request = m.AskProjectRequest(project=mine.name, question="Hi", meetings=[elsewhere])
    assert await bad_fields(alice.AskProject(request)) == {"meetings[0]"}
    stream = m.StreamAskProjectRequest(project=mine.name, question="x" * 4001)
    assert await bad_fields(_drain(alice.StreamAskProject(stream))) == {"question"}
    listing = m.ListChatMessagesRequest(parent=mine.name, page_size=-1, page_token="zz")
    assert await bad_fields(alice.ListChatMessages(listing)) == {"page_size", "page_token"}


async def test_chat_history_pages_oldest_first(alice: User, service: Running):
    project, other = await new_project(alice), await new_project(alice)
    project_id = project.name.removeprefix("projects/")
    start_at = datetime(2030, 1, 1, tzinfo=UTC)
    records = [
        ChatRecord(
            f"c{i}",
            project_id,
            K.CHAT_ROLE_USER,
            f"q{i}",
            start_at + timedelta(minutes=i),
            author="users/alice",
        )
        for i in range(5)
    ]
    assert service.resources.sessions is not None
    async with Database(service.resources.sessions).transaction() as stores:
        await stores.chat.add(records[::-1])
    first = await alice.ListChatMessages(m.ListChatMessagesRequest(parent=project.name,
                                                                   page_size=3))  # fmt: skip
    assert [c.content for c in first.chat_messages] == ["q0", "q1", "q2"]
    rest = await alice.ListChatMessages(m.ListChatMessagesRequest(
        parent=project.name, page_size=3, page_token=first.next_page_token))  # fmt: skip
    assert [c.content for c in rest.chat_messages] == ["q3", "q4"]
    assert rest.next_page_token == ""
    foreign = m.ListChatMessagesRequest(parent=other.name, page_token=first.next_page_token)
    assert await bad_fields(alice.ListChatMessages(foreign)) == {"page_token"}


async def test_a_cancelled_stream_stores_nothing(alice: User, service: Running):
    project = await new_project(alice)
    await seed_meeting(alice, service, project.name, "Planning")
    call = alice.StreamAskProject(
        m.StreamAskProjectRequest(project=project.name, question="What was decided?")
    )
    first = await call.read()
    assert first.WhichOneof("event") == "question"
    call.cancel()
    await asyncio.sleep(0.5)
    listed = await alice.ListChatMessages(m.ListChatMessagesRequest(parent=project.name))
    assert list(listed.chat_messages) == []
    again = await alice.AskProject(m.AskProjectRequest(project=project.name, question="Why?"))
    assert again.answer.model


class Overloaded(assistant_pb2_grpc.AssistantServiceServicer):
    """An assistant that refuses every chat with one status."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code

    async def CompleteChat(self, request: Any, context: Any) -> Any:
        await context.abort(self.code, "model provider 'local' is busy")

    async def StreamCompleteChat(self, request: Any, context: Any) -> Any:
        await context.abort(self.code, "model provider 'local' is busy")
        yield  # a server stream


@pytest.fixture
async def refusing(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    server = grpc.aio.server()
    assistant_pb2_grpc.add_AssistantServiceServicer_to_server(Overloaded(request.param), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}"
    await server.stop(0)


@pytest.mark.parametrize(
    ("refusing", "code"),
    [
        (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE),
        (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION),
    ],
    indirect=["refusing"],
)
async def test_an_overloaded_or_refusing_assistant_is_named(
    start_meetings: Start, refusing: str, code: grpc.StatusCode, tokens: TokenFactory
):
    await _assert_assistant_failure(await start_meetings(refusing), tokens, code)


async def test_a_down_assistant_is_unavailable(start_meetings: Start, tokens: TokenFactory):
    running = await start_meetings("127.0.0.1:9")  # nothing listens there
    await _assert_assistant_failure(running, tokens, grpc.StatusCode.UNAVAILABLE)


async def _assert_assistant_failure(
    running: Running, tokens: TokenFactory, code: grpc.StatusCode
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        ana = User(
            meetings_pb2_grpc.MeetingsServiceStub(channel), tokens.metadata(subject="users/ana")
        )
        project = await new_project(ana)
        ask = m.AskProjectRequest(project=project.name, question="Budget?")
        error = await failure(ana.AskProject(ask), code)
        assert "assistant" in (error.details() or "")
        stream = m.StreamAskProjectRequest(project=project.name, question="Budget?")
        error = await failure(_drain(ana.StreamAskProject(stream)), code)
        assert "assistant" in (error.details() or "")
        listed = await ana.ListChatMessages(m.ListChatMessagesRequest(parent=project.name))
        assert list(listed.chat_messages) == []


async def _drain(call: Any) -> list[Any]:
    return [event async for event in call]
