"""Search on SQLite and PostgreSQL: transcripts, summaries, meeting titles and agendas,
project descriptions, client notes and chat history, ranked by the share of the query's words
they hold; only what the caller may see; filters by kind, project, client and time; offset
pages tied to the query; wildcards taken literally; every bad field named."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf import timestamp_pb2

from tests.services.meetings.conftest import (
    User,
    add_chat,
    bad_fields,
    new_client,
    new_project,
    seed_meeting,
)
from voka.meetings.v1 import knowledge_pb2, meeting_pb2, meetings_pb2
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
