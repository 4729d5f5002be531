"""Meeting figures on SQLite and PostgreSQL: project and client stats (meetings held and to
come, recordings and their length, summaries, commitments and the overdue ones, chat
questions, last and next meeting) and `Project.meeting_count`; only the caller's own projects
are counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.meetings.meetings.records import Commitment, SummaryContent
from tests.services.meetings.conftest import (
    User,
    add_chat,
    new_client,
    new_project,
    seed_meeting,
    upload,
    wav,
)
from voka.meetings.v1 import knowledge_pb2, meeting_pb2, meetings_pb2
from voka.server import Running

m, K, M = meetings_pb2, knowledge_pb2, meeting_pb2
LATE = SummaryContent(text="Design review.", commitments=(
    Commitment("ship the mock-ups", "Bo", "2021-04-01"), Commitment("write the copy", "Cy", ""),
))  # fmt: skip


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 9, tzinfo=UTC)


def days_ahead(days: int) -> datetime:
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


async def schedule(user: User, project: str, start: datetime) -> str:
    """A meeting of `project` with nothing under it; its name."""
    meeting = M.Meeting(title="Call", project=project)
    meeting.start_time.FromDatetime(start)
    return (await user.CreateMeeting(m.CreateMeetingRequest(meeting=meeting))).meeting.name


async def someone_elses(bob: User, service: Running) -> None:
    """Bob's own client, project, summarised meeting and chat: never in Alice's figures."""
    client = await new_client(bob, display_name="Bob's")
    project = await new_project(bob, client=client.name)
    await seed_meeting(bob, service, project.name, "Bob's", start=at(2022, 1, 1), summary=LATE)
    await schedule(bob, project.name, days_ahead(1))
    await add_chat(service, project.name, "Bob asks?")


async def test_project_stats_count_its_meetings_recordings_summaries_and_chat(
    alice: User, bob: User, service: Running
):
    project = (await new_project(alice)).name
    await seed_meeting(alice, service, project, "Kick-off", start=at(2021, 3, 1), summary=LATE)
    await seed_meeting(alice, service, project, "Review", start=at(2021, 3, 20))  # due 2030
    await upload(alice, await schedule(alice, project, at(2021, 2, 1)), wav())  # no length yet
    soon, later = days_ahead(2), days_ahead(9)
    await schedule(alice, project, later)
    await schedule(alice, project, soon)
    early = await schedule(alice, project, days_ahead(1))
    joined = datetime.now(UTC) - timedelta(seconds=1)
    await alice.JoinMeeting(m.JoinMeetingRequest(name=early))  # held now, ahead of its time
    for text, role in [("When?", K.CHAT_ROLE_USER), ("March.", K.CHAT_ROLE_ASSISTANT),
                       ("Who?", K.CHAT_ROLE_USER)]:  # fmt: skip
        await add_chat(service, project, text, role)
    other = (await new_project(alice, title="Other")).name
    await seed_meeting(alice, service, other, "Elsewhere", start=at(2026, 1, 1), summary=LATE)
    await add_chat(service, other, "Elsewhere?")
    await someone_elses(bob, service)

    request = m.GetProjectStatsRequest(name=f"{project}/stats")
    stats = (await alice.GetProjectStats(request)).stats
    assert (stats.meeting_count, stats.upcoming_meeting_count) == (6, 2)
    assert (stats.recording_count, stats.recorded_duration.seconds) == (3, 120)
    assert stats.summarized_meeting_count == 2  # the upload's summary is only PENDING
    assert (stats.commitment_count, stats.overdue_commitment_count) == (3, 1)
    assert stats.chat_question_count == 2
    assert stats.next_meeting_time.ToDatetime(UTC) == soon
    assert joined <= stats.last_meeting_time.ToDatetime(UTC) <= datetime.now(UTC)

    bare = (await alice.GetProjectStats(m.GetProjectStatsRequest(name=f"{other}/stats"))).stats
    assert (bare.meeting_count, bare.upcoming_meeting_count, bare.chat_question_count) == (1, 0, 1)
    assert bare.last_meeting_time.ToDatetime(UTC) == at(2026, 1, 1)
    assert not bare.HasField("next_meeting_time")


async def test_project_meeting_count_in_get_list_and_update(
    alice: User, bob: User, service: Running
):
    busy = (await new_project(alice, title="Busy")).name
    quiet = (await new_project(alice, title="Quiet")).name
    for start in (at(2021, 1, 1), days_ahead(3)):
        await schedule(alice, busy, start)
    await someone_elses(bob, service)

    got = await alice.GetProject(m.GetProjectRequest(name=busy))
    assert got.project.meeting_count == 2
    listed = await alice.ListProjects(m.ListProjectsRequest(page_size=1, order_by="title"))
    assert [(p.name, p.meeting_count) for p in listed.projects] == [(busy, 2)]
    token = listed.next_page_token
    rest = await alice.ListProjects(m.ListProjectsRequest(page_token=token, order_by="title"))
    assert [(p.name, p.meeting_count) for p in rest.projects] == [(quiet, 0)]
    theirs = await bob.ListProjects(m.ListProjectsRequest())
    assert [p.meeting_count for p in theirs.projects] == [2]
    changed = got.project
    changed.title = "Busier"
    update = m.UpdateProjectRequest(project=changed, update_mask={"paths": ["title"]})
    assert (await alice.UpdateProject(update)).project.meeting_count == 2


async def test_client_stats_add_up_its_projects_meetings(alice: User, bob: User, service: Running):
    client = (await new_client(alice)).name
    first = (await new_project(alice, client=client)).name
    second = (await new_project(alice, client=client, title="Second")).name
    await seed_meeting(alice, service, first, "One", start=at(2021, 3, 1), summary=LATE)
    await seed_meeting(alice, service, second, "Two", start=at(2021, 5, 1), summary=LATE)
    soon = days_ahead(4)
    await schedule(alice, second, soon)
    await schedule(alice, second, days_ahead(8))
    elsewhere = (await new_project(alice, client=(await new_client(alice)).name)).name
    await seed_meeting(alice, service, elsewhere, "Other", start=at(2026, 1, 1), summary=LATE)
    await schedule(alice, elsewhere, days_ahead(1))
    await someone_elses(bob, service)

    stats = (await alice.GetClientStats(m.GetClientStatsRequest(name=f"{client}/stats"))).stats
    assert stats.meeting_count == 4
    assert stats.recorded_duration.seconds == 120
    assert stats.overdue_commitment_count == 2
    assert stats.last_meeting_time.ToDatetime(UTC) == at(2021, 5, 1)
    assert stats.next_meeting_time.ToDatetime(UTC) == soon
