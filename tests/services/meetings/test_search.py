"""Search on SQLite and PostgreSQL: transcripts, summaries, meeting titles and agendas,
project descriptions, client notes and chat history; only what the caller may see; filters by
kind, project, client and time; offset pages tied to the query; wildcards taken literally;
every bad field named. Without the assistant (the first tests) passages rank by the query's
words alone; with the real assistant's EmbeddingService (the last tests) the service's indexer
embeds every passage as soon as a write commits, a query sharing no word with a passage finds
it by meaning (in Search and in AskProject's sources), never another user's, and deleting content
deletes its vectors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import timestamp_pb2

from services.meetings.chat import changes
from services.meetings.chat.records import ChatRecord
from services.meetings.chat.vector_cache import VectorCache
from services.meetings.chat.vectors import encode, passage_vectors
from services.meetings.database import Database
from services.meetings.settings import MeetingsSettings
from tests.fixtures.tokens import TokenFactory
from tests.services.meetings.conftest import (
    User,
    add_chat,
    bad_fields,
    mask,
    new_client,
    new_project,
    seed_meeting,
    start_meetings,
)
from voka.meetings.v1 import (
    knowledge_pb2,
    meeting_pb2,
    meetings_pb2,
    meetings_pb2_grpc,
    project_pb2,
)
from voka.server import Running

m, K, M = meetings_pb2, knowledge_pb2, meeting_pb2


async def search(user: User, query: str, **fields: object) -> list[knowledge_pb2.SearchResult]:
    reply = await user.Search(m.SearchRequest(query=query, page_size=100, **fields))
    return list(reply.results)


async def acme(alice: User, service: Running) -> tuple[str, str, str]:
    """A client, its project and a meeting of it, all mentioning the budget."""
    client = await new_client(alice, display_name="Acme", notes="Talk budget with Eve.")
    project = await new_project(alice, client=client.name, description="Budget site.")
    meeting = await seed_meeting(alice, service, project.name, "Budget review")
    await add_chat(service, project.name, "What is the budget?")
    return client.name, project.name, meeting


async def test_every_kind_is_found_best_first(alice: User, service: Running):
    client, project, meeting = await acme(alice, service)
    found = await search(alice, "budget")
    kinds = {r.source.kind for r in found}
    assert kinds == {K.SOURCE_KIND_TRANSCRIPT, K.SOURCE_KIND_SUMMARY, K.SOURCE_KIND_PROJECT,
                     K.SOURCE_KIND_CLIENT, K.SOURCE_KIND_CHAT}  # fmt: skip
    assert all("budget" in r.snippet.lower() for r in found)
    spoken = next(r for r in found if r.source.kind == K.SOURCE_KIND_TRANSCRIPT)
    assert spoken.source.meeting == meeting
    assert spoken.source.recording.startswith(f"{meeting}/recordings/")
    assert spoken.source.end_offset.ToMilliseconds() == 4000
    assert spoken.source.project == project
    chat = next(r for r in found if r.source.kind == K.SOURCE_KIND_CHAT)
    assert chat.source.chat_message.startswith(f"{project}/chat-messages/")
    assert next(r for r in found if r.source.kind == K.SOURCE_KIND_CLIENT).source.client == client

    both = await search(alice, "budget Friday")
    assert both[0].score == 1.0
    assert both[0].snippet == "Ana will send the budget by Friday."
    assert [r.score for r in both] == sorted((r.score for r in both), reverse=True)
    assert await search(alice, "budget Friday", min_score=1.0) == both[:1]


async def test_only_what_the_caller_may_see(alice: User, bob: User, service: Running):
    _, _, meeting = await acme(alice, service)
    assert await search(bob, "budget") == []
    invite = M.Participant(display_name="Bob", user="users/bob")
    await alice.AddMeetingParticipants(m.AddMeetingParticipantsRequest(
        meeting=meeting, participants=[invite]))  # fmt: skip
    seen = await search(bob, "budget")
    assert {r.source.kind for r in seen} == {
        K.SOURCE_KIND_TRANSCRIPT, K.SOURCE_KIND_SUMMARY, K.SOURCE_KIND_PROJECT,
    }  # fmt: skip
    assert {r.source.meeting for r in seen} == {meeting}  # not alice's project, client or chat


async def test_filters(alice: User, service: Running):
    client, _, meeting = await acme(alice, service)
    other = await new_project(alice, description="Budget elsewhere.")
    only_chat = await search(alice, "budget", kinds=[K.SOURCE_KIND_CHAT])
    assert [r.source.kind for r in only_chat] == [K.SOURCE_KIND_CHAT]
    in_other = await search(alice, "budget", project=other.name)
    assert [(r.source.kind, r.source.project) for r in in_other] == [
        (K.SOURCE_KIND_PROJECT, other.name)
    ]
    of_client = await search(alice, "budget", client=client)
    assert other.name not in {r.source.project for r in of_client}
    assert client in {r.source.client for r in of_client}
    later = timestamp_pb2.Timestamp()
    later.FromDatetime(datetime(2030, 1, 20, tzinfo=UTC))
    after = await search(alice, "budget", start_time_from=later)
    assert [r.source.kind for r in after] == [K.SOURCE_KIND_CHAT]  # written 2030-02-01
    before = await search(alice, "budget", start_time_to=later, kinds=[K.SOURCE_KIND_SUMMARY])
    assert [r.source.meeting for r in before] == [meeting]


async def test_pages_follow_the_ranking(alice: User, service: Running):
    project = await new_project(alice)
    said = tuple(f"Point {i} about the roadmap." for i in range(7))
    await seed_meeting(alice, service, project.name, "Roadmap", said=said)
    names, token = [], ""
    while True:
        reply = await alice.Search(m.SearchRequest(query="roadmap", page_size=3,
                                                   page_token=token))  # fmt: skip
        names.append(len(reply.results))
        token = reply.next_page_token
        if not token:
            break
    total = len(await search(alice, "roadmap"))
    assert names == [3] * (total // 3) + ([total % 3] if total % 3 else [])
    first = await alice.Search(m.SearchRequest(query="roadmap", page_size=3))
    other = m.SearchRequest(query="points", page_token=first.next_page_token)
    assert await bad_fields(alice.Search(other)) == {"page_token"}


async def test_wildcards_are_literal(alice: User, service: Running):
    project = await new_project(alice)
    await seed_meeting(alice, service, project.name, "Codes", said=("We said abc twice.",))
    assert await search(alice, "a_c") == []
    assert len(await search(alice, "abc", kinds=[K.SOURCE_KIND_TRANSCRIPT])) == 1


async def test_bad_fields_are_named(alice: User, service: Running):
    since, until = timestamp_pb2.Timestamp(seconds=2000), timestamp_pb2.Timestamp(seconds=1000)
    request = m.SearchRequest(
        query="the of", project="x", client="clients/", kinds=[99], start_time_from=since,
        start_time_to=until, min_score=2, page_size=-1, page_token="zz",
    )  # fmt: skip
    assert await bad_fields(alice.Search(request)) == {
        "query", "project", "client", "kinds[0]", "start_time_to", "min_score", "page_size",
        "page_token",
    }  # fmt: skip
    assert await bad_fields(alice.Search(m.SearchRequest(query="x" * 1001))) == {"query"}


@pytest.fixture
async def indexed(
    tokens: TokenFactory, tmp_path: Path, database_url: str, identity: None, assistant: str
) -> AsyncIterator[Running]:
    """The service with the real assistant embedding its passages, and no backstop round
    within a test: what is indexed, a write's commit woke the indexer for."""
    settings = MeetingsSettings(
        service="meetings", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file,
        database_url=database_url, addresses={"assistant": assistant},
        meetings_search_index_backstop=3600.0,
    )  # fmt: skip
    running = await start_meetings(settings)
    yield running
    await running.stop()


@pytest.fixture
async def people(indexed: Running, tokens: TokenFactory) -> AsyncIterator[tuple[User, User]]:
    """Alice and Bob on the indexed service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{indexed.port}") as channel:
        stub = meetings_pb2_grpc.MeetingsServiceStub(channel)
        yield (User(stub, tokens.metadata(subject="users/alice")),
               User(stub, tokens.metadata(subject="users/bob")))  # fmt: skip


async def until_indexed(service: Running) -> None:
    """Waits until no passage lacks a current vector."""
    assert service.resources.sessions is not None
    database = Database(service.resources.sessions)
    for _ in range(600):
        async with database.transaction() as stores:
            if not await stores.search.stale(1):
                return
        await asyncio.sleep(0.1)
    raise AssertionError("passages were not indexed within 60 s")


PROMPTLY = 15.0  # seconds: an embedding round of one passage takes well under one


async def until_vectors(service: Running, **source: str) -> None:
    """Waits (PROMPTLY at most) until a vector references this source row."""
    deadline = time.monotonic() + PROMPTLY
    while not await vectors_of(service, **source):
        assert time.monotonic() < deadline, f"{source} not indexed within {PROMPTLY} s"
        await asyncio.sleep(0.05)


async def vectors_of(service: Running, **source: str) -> int:
    """How many stored vectors reference this source row (e.g. project_id=...)."""
    assert service.resources.sessions is not None
    where = [getattr(passage_vectors.c, column) == value for column, value in source.items()]
    statement = sa.select(sa.func.count()).select_from(passage_vectors).where(*where)
    async with service.resources.sessions() as session:
        return int((await session.execute(statement)).scalar_one())


BUDGET = "The budget for the new website is forty thousand euros."


async def test_meaning_finds_a_passage_sharing_no_word(people: tuple[User, User],
                                                       indexed: Running):  # fmt: skip
    alice, _ = people
    budget = await new_project(alice, title="Website", description=BUDGET)
    await add_chat(indexed, budget.name, "We will meet at the park on Sunday afternoon.")
    await until_indexed(indexed)
    found = await search(alice, "costs")
    assert found, "no passage found by meaning"
    assert found[0].source.kind == K.SOURCE_KIND_PROJECT
    assert found[0].source.project == budget.name
    assert found[0].score == 1.0  # first in the only ranking that found it
    assert "budget" in found[0].snippet
    both = await search(alice, "website costs")  # by words and by meaning: first in both
    assert both[0].source.project == budget.name
    assert both[0].score == 1.0


async def test_a_write_is_indexed_without_waiting_for_the_backstop(people: tuple[User, User],
                                                                   indexed: Running):  # fmt: skip
    """The indexer sleeps (its backstop is an hour here) until a commit writes passage text:
    a new project, then a chat message of it, each get their vector within seconds."""
    alice, _ = people
    await until_indexed(indexed)  # the round at start is over: the indexer sleeps
    began = time.monotonic()
    project = await new_project(alice, title="Website", description=BUDGET)
    project_id = project.name.removeprefix("projects/")
    await until_vectors(indexed, project_id=project_id)
    await add_chat(indexed, project.name, "We will meet at the park on Sunday afternoon.")
    chat_id = (await alice.ListChatMessages(m.ListChatMessagesRequest(parent=project.name))
               ).chat_messages[0].name.rsplit("/", 1)[1]  # fmt: skip
    await until_vectors(indexed, chat_id=chat_id)
    assert time.monotonic() - began < PROMPTLY


async def test_another_users_passage_never_ranks(people: tuple[User, User], indexed: Running):
    alice, bob = people
    theirs = await new_project(bob, title="Budget", description=BUDGET)
    await add_chat(indexed, theirs.name, "How much money is left in the budget?")
    mine = await new_project(alice, title="Garden", description="Planting roses in spring.")
    await until_indexed(indexed)
    for query in ("costs", "budget", "how much money do we have"):
        assert theirs.name not in {r.source.project for r in await search(alice, query)}
    assert mine.name not in {r.source.project for r in await search(bob, "flowers")}
    assert theirs.name in {r.source.project for r in await search(bob, "costs")}


async def test_changed_and_deleted_content_is_reindexed(people: tuple[User, User],
                                                        indexed: Running):  # fmt: skip
    alice, _ = people
    project = await new_project(alice, title="Website", description=BUDGET)
    meeting = await seed_meeting(alice, indexed, project.name, "Weekly sync")
    await until_indexed(indexed)
    project_id = project.name.removeprefix("projects/")
    meeting_id = meeting.removeprefix("meetings/")
    assert await vectors_of(indexed, project_id=project_id) == 1
    assert await vectors_of(indexed, meeting_id=meeting_id) == 4  # 2 segments, summary, agenda

    change = project_pb2.Project(name=project.name, description="A party at the beach.")
    await alice.UpdateProject(m.UpdateProjectRequest(project=change,
                                                     update_mask=mask("description")))  # fmt: skip
    await until_indexed(indexed)
    seaside = await search(alice, "seaside celebration", kinds=[K.SOURCE_KIND_PROJECT])
    assert seaside[0].source.project == project.name
    assert "beach" in seaside[0].snippet

    await alice.DeleteMeeting(m.DeleteMeetingRequest(name=meeting, force=True))
    assert await vectors_of(indexed, meeting_id=meeting_id) == 0
    await alice.DeleteProject(m.DeleteProjectRequest(name=project.name))
    assert await vectors_of(indexed, project_id=project_id) == 0
    assert await search(alice, "seaside celebration") == []


async def test_ask_project_takes_its_sources_by_meaning(people: tuple[User, User],
                                                       indexed: Running):  # fmt: skip
    """AskProject's prompt ranks the project's content as Search does: a question sharing no
    word with the budget gets it as its one source, where by words alone the newest passage
    (a later meeting's agenda) would be taken."""
    alice, _ = people
    project = await new_project(alice, title="Website", description=BUDGET)
    picnic = M.Meeting(title="Picnic", project=project.name,
                       description="We will meet at the park on Sunday afternoon.")  # fmt: skip
    picnic.start_time.FromDatetime(datetime(2030, 1, 15, 10, tzinfo=UTC))
    await alice.CreateMeeting(m.CreateMeetingRequest(meeting=picnic))
    await until_indexed(indexed)
    ask = m.StreamAskProjectRequest(project=project.name, question="What are the costs?",
                                    max_sources=1, ephemeral=True)  # fmt: skip
    call = alice.StreamAskProject(ask)
    first = await call.read()  # the sources come before the assistant is asked to answer
    call.cancel()
    assert first.WhichOneof("event") == "citation"
    assert first.citation.source.kind == K.SOURCE_KIND_PROJECT
    assert not first.citation.source.meeting  # the project's description, not the agenda
    assert first.citation.snippet == BUDGET


async def test_a_commit_of_passage_text_wakes_the_indexer_and_a_rollback_does_not(
    alice: User, service: Running
):
    project = await new_project(alice)
    assert service.resources.sessions is not None
    database = Database(service.resources.sessions)
    woken = asyncio.Event()
    at = datetime(2030, 2, 1, tzinfo=UTC)
    dropped = ChatRecord("c-dropped", project.name.removeprefix("projects/"),
                         K.CHAT_ROLE_USER, "Dropped.", at)  # fmt: skip

    async def rolled_back() -> None:
        async with database.transaction() as stores:
            await stores.chat.add([dropped])
            raise LookupError("rolled back")

    with changes.waking(woken.set):
        with pytest.raises(LookupError):
            await rolled_back()
        assert not woken.is_set()
        await add_chat(service, project.name, "Kept.")
        assert woken.is_set()


async def test_pgvector_is_recognised_where_the_server_offers_it(service: Running,
                                                                 database_url: str):  # fmt: skip
    """The scan stays the exact numpy one (every `indexed` test runs on it); what the service
    says of pgvector at start matches the server: never on SQLite, and on PostgreSQL what its
    catalogue of installable versions holds (the test server here has none)."""
    assert service.resources.sessions is not None
    async with Database(service.resources.sessions).transaction() as stores:
        offered = await stores.vectors.pgvector_available()
    if database_url.startswith("sqlite"):
        assert offered is False
        return
    versions = sa.text("SELECT count(*) FROM pg_available_extension_versions WHERE name = 'vector'")
    async with service.resources.sessions() as session:
        assert offered is ((await session.execute(versions)).scalar_one() > 0)


def test_the_vector_cache_starts_over_when_full() -> None:
    """Vectors by id up to the capacity; one more starts the cache over, and an id it no
    longer holds is left out of the ranking rather than scored wrong."""
    cache = VectorCache(2)
    east, north, west = encode([1.0, 0.0]), encode([0.0, 1.0]), encode([-1.0, 0.0])
    cache.add({"e": east, "n": north})
    refs = [("chat", "east"), ("chat", "north")]
    assert cache.nearest(refs, ["e", "n"], [1.0, 0.0], limit=5, floor=0.5) == {
        ("chat", "east"): 1.0
    }
    cache.add({"w": west})
    assert cache.missing(["e", "n", "w"]) == ["e", "n"]
    found = cache.nearest([*refs, ("chat", "west")], ["e", "n", "w"], [-1.0, 0.0], limit=5,
                          floor=-1.0)  # fmt: skip
    assert found == {("chat", "west"): 1.0}
