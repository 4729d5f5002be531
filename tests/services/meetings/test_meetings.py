"""Meetings over gRPC on SQLite and PostgreSQL: scheduling with Jitsi rooms, tenancy (organizer,
project owner, participants), validation naming fields, filters and pages, invitations, join
and leave, and what UploadRecording refuses or stores (the pipeline itself: test_pipeline)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import nats
import pytest
from google.protobuf import timestamp_pb2

from services.meetings.service import SPEC
from services.meetings.settings import MeetingsSettings
from tests.fixtures.nats import announce_user_deleted
from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tests.services.meetings.conftest import (
    User,
    bad_fields,
    failure,
    mask,
    new_client,
    new_project,
    pages,
    start_meetings,
    upload,
    wav,
)
from tools.processes import NatsServer
from voka.meetings.v1 import events_pb2, meeting_pb2, meetings_pb2, meetings_pb2_grpc
from voka.server import start

m = meetings_pb2
JITSI = "https://jitsi.example.org/"
T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def settings(tokens: TokenFactory, tmp_path: Path, database_url: str) -> MeetingsSettings:
    return MeetingsSettings(
        service="meetings",
        port=0,
        data_dir=tmp_path,
        jwks_file=tokens.jwks_file,
        database_url=database_url,
        meetings_jitsi_base_url=JITSI,
        meetings_max_recording_bytes=200_000,
    )


@pytest.fixture
def admin(stub, tokens: TokenFactory) -> User:
    return User(stub, tokens.metadata(subject="users/root", roles=("user", "admin")))


def at(hours: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(T0 + timedelta(hours=hours))
    return stamp


def person(name: str, email: str = "", user: str = "", **fields) -> meeting_pb2.Participant:
    return meeting_pb2.Participant(display_name=name, email=email, user=user, **fields)


async def new_meeting(user: User, hours: float = 0, **fields) -> meeting_pb2.Meeting:
    meeting = meeting_pb2.Meeting(**{"title": "Kick-off", "start_time": at(hours)} | fields)
    return (await user.CreateMeeting(m.CreateMeetingRequest(meeting=meeting))).meeting


async def test_schedule_a_meeting_with_an_unguessable_jitsi_room(alice: User):
    project = await new_project(alice)
    invited = [person("Bob", "BOB@example.com", "users/bob"), person("Eve", "eve@example.com")]
    created = await new_meeting(
        alice, project=project.name, participants=invited, time_zone="Europe/Madrid"
    )
    other = await new_meeting(alice)
    assert created.name.startswith("meetings/")
    assert created.organizer == "users/alice"
    assert created.project == project.name
    assert created.state == meeting_pb2.MEETING_STATE_SCHEDULED
    assert created.end_time.ToDatetime(UTC) == T0 + timedelta(hours=1)
    assert created.room_url == JITSI + created.room_name
    assert len(created.room_name) >= 32
    assert created.room_name != other.room_name
    assert [p.display_name for p in created.participants] == ["Bob", "Eve"]
    assert created.participants[0].role == meeting_pb2.PARTICIPANT_ROLE_ATTENDEE
    assert created.participants[0].presence == meeting_pb2.PARTICIPANT_PRESENCE_INVITED
    got = await alice.GetMeeting(m.GetMeetingRequest(name=created.name))
    assert got.meeting == created


async def test_bad_fields_are_named(alice: User, bob: User):
    bobs = await new_project(bob)
    meeting = meeting_pb2.Meeting(
        title="",
        start_time=at(2),
        end_time=at(1),
        time_zone="Mars/Olympus",
        project=bobs.name,
        participants=[person("", "not-an-email"), person("Al", user="people/al")],
    )
    assert await bad_fields(alice.CreateMeeting(m.CreateMeetingRequest(meeting=meeting))) == {
        "meeting.title",
        "meeting.end_time",
        "meeting.time_zone",
        "meeting.project",
        "meeting.participants[0].display_name",
        "meeting.participants[0].email",
        "meeting.participants[1].user",
    }
    no_start = meeting_pb2.Meeting(title="x")
    assert await bad_fields(alice.CreateMeeting(m.CreateMeetingRequest(meeting=no_start))) == {
        "meeting.start_time"
    }
    listing = m.ListMeetingsRequest(order_by="title", project="clients/x", state=9, page_size=-1)
    assert await bad_fields(alice.ListMeetings(listing)) == {
        "order_by",
        "project",
        "state",
        "page_size",
    }


async def test_other_users_never_see_a_meeting(alice: User, bob: User):
    meeting = await new_meeting(alice)
    name = meeting.name
    not_found = grpc.StatusCode.NOT_FOUND
    await failure(bob.GetMeeting(m.GetMeetingRequest(name=name)), not_found)
    await failure(bob.DeleteMeeting(m.DeleteMeetingRequest(name=name)), not_found)
    await failure(bob.JoinMeeting(m.JoinMeetingRequest(name=name)), not_found)
    update = m.UpdateMeetingRequest(
        meeting=meeting_pb2.Meeting(name=name, title="mine"), update_mask=mask("title")
    )
    await failure(bob.UpdateMeeting(update), not_found)
    await failure(bob.GetTranscript(m.GetTranscriptRequest(name=f"{name}/transcript")), not_found)
    await failure(upload(bob, name, wav()), not_found)
    assert (await bob.ListMeetings(m.ListMeetingsRequest())).total_size == 0


async def test_participants_see_and_join_but_do_not_manage(alice: User, bob: User):
    meeting = await new_meeting(alice, participants=[person("Bob", user="users/bob")])
    name = meeting.name
    seen = await bob.GetMeeting(m.GetMeetingRequest(name=name))
    assert seen.meeting.title == "Kick-off"
    assert [x.name for x in (await bob.ListMeetings(m.ListMeetingsRequest())).meetings] == [name]
    update = m.UpdateMeetingRequest(
        meeting=meeting_pb2.Meeting(name=name, title="x"), update_mask=mask("title")
    )
    await failure(bob.UpdateMeeting(update), grpc.StatusCode.PERMISSION_DENIED)

    joined = await bob.JoinMeeting(m.JoinMeetingRequest(name=name, display_name="Bobby"))
    assert joined.room_url == JITSI + meeting.room_name
    assert joined.jitsi_domain == JITSI
    assert joined.participant.presence == meeting_pb2.PARTICIPANT_PRESENCE_JOINED
    assert joined.participant.display_name == "Bobby"
    host = await alice.JoinMeeting(m.JoinMeetingRequest(name=name))
    assert host.participant.role == meeting_pb2.PARTICIPANT_ROLE_HOST  # the organizer, not invited
    started = (await alice.GetMeeting(m.GetMeetingRequest(name=name))).meeting
    assert started.state == meeting_pb2.MEETING_STATE_IN_PROGRESS
    assert started.HasField("actual_start_time")

    left = await bob.LeaveMeeting(m.LeaveMeetingRequest(name=name))
    assert left.participant.presence == meeting_pb2.PARTICIPANT_PRESENCE_LEFT
    assert left.meeting_state == meeting_pb2.MEETING_STATE_IN_PROGRESS
    last = await alice.LeaveMeeting(m.LeaveMeetingRequest(name=name))
    assert last.meeting_state == meeting_pb2.MEETING_STATE_ENDED
    await failure(
        alice.LeaveMeeting(m.LeaveMeetingRequest(name=name)), grpc.StatusCode.FAILED_PRECONDITION
    )
    ended = (await bob.GetMeeting(m.GetMeetingRequest(name=name))).meeting
    assert ended.state == meeting_pb2.MEETING_STATE_ENDED
    assert ended.HasField("actual_end_time")


async def test_project_owner_and_admin_see_the_meetings(alice: User, admin: User):
    project = await new_project(alice)
    meeting = await new_meeting(alice, project=project.name)
    assert (await admin.GetMeeting(m.GetMeetingRequest(name=meeting.name))).meeting.name
    await failure(
        alice.DeleteProject(m.DeleteProjectRequest(name=project.name)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await alice.DeleteProject(m.DeleteProjectRequest(name=project.name, force=True))
    await failure(
        alice.GetMeeting(m.GetMeetingRequest(name=meeting.name)), grpc.StatusCode.NOT_FOUND
    )


async def test_invitations_merge_by_email_or_account_and_can_be_withdrawn(alice: User):
    meeting = await new_meeting(alice, participants=[person("Eve", "eve@example.com")])
    added = await alice.AddMeetingParticipants(
        m.AddMeetingParticipantsRequest(
            meeting=meeting.name,
            participants=[
                person("Eve E.", "EVE@example.com", role=meeting_pb2.PARTICIPANT_ROLE_HOST),
                person("Carl", user="users/carl"),
            ],
        )
    )
    people = added.meeting.participants
    assert [(p.display_name, p.role) for p in people] == [
        ("Eve E.", meeting_pb2.PARTICIPANT_ROLE_HOST),
        ("Carl", meeting_pb2.PARTICIPANT_ROLE_ATTENDEE),
    ]
    bad = m.RemoveMeetingParticipantsRequest(
        meeting=meeting.name, participants=[f"{meeting.name}/participants/nobody", "x"]
    )
    assert await bad_fields(alice.RemoveMeetingParticipants(bad)) == {"participants[1]"}
    missing = m.RemoveMeetingParticipantsRequest(
        meeting=meeting.name, participants=[f"{meeting.name}/participants/nobody"]
    )
    assert await bad_fields(alice.RemoveMeetingParticipants(missing)) == {"participants[0]"}
    removed = await alice.RemoveMeetingParticipants(
        m.RemoveMeetingParticipantsRequest(meeting=meeting.name, participants=[people[0].name])
    )
    assert [p.display_name for p in removed.meeting.participants] == ["Carl"]


async def test_update_with_a_mask_and_checks_against_the_stored_meeting(alice: User, bob: User):
    meeting = await new_meeting(alice, description="agenda")
    change = meeting_pb2.Meeting(name=meeting.name, title="Review", description="ignored")
    updated = await alice.UpdateMeeting(
        m.UpdateMeetingRequest(meeting=change, update_mask=mask("title"))
    )
    assert (updated.meeting.title, updated.meeting.description) == ("Review", "agenda")
    late = meeting_pb2.Meeting(name=meeting.name, end_time=at(-1))
    assert await bad_fields(
        alice.UpdateMeeting(m.UpdateMeetingRequest(meeting=late, update_mask=mask("end_time")))
    ) == {"meeting.end_time"}
    bobs = await new_project(bob)
    moved = meeting_pb2.Meeting(name=meeting.name, project=bobs.name)
    assert await bad_fields(
        alice.UpdateMeeting(
            m.UpdateMeetingRequest(meeting=moved, update_mask=mask("project", "state"))
        )
    ) == {"update_mask.paths"}
    assert await bad_fields(
        alice.UpdateMeeting(m.UpdateMeetingRequest(meeting=moved, update_mask=mask("project")))
    ) == {"meeting.project"}


async def test_list_filters_and_pages(alice: User):
    project = await new_project(alice)
    names = [(await new_meeting(alice, hours=h, project=project.name)).name for h in range(5)]
    other = await new_meeting(alice, hours=2.5, participants=[person("Zoe", "zoe@example.com")])
    everything = await pages(alice, "ListMeetings", "meetings", page_size=2)
    assert [len(p) for p in everything] == [2, 2, 2]
    assert [n for page in everything for n in page] == [*names[:3], other.name, *names[3:]]
    in_project = await pages(
        alice,
        "ListMeetings",
        "meetings",
        project=project.name,
        order_by="start_time desc",
        page_size=3,
    )
    assert [n for page in in_project for n in page] == names[::-1]
    window = await alice.ListMeetings(
        m.ListMeetingsRequest(start_time_from=at(1), start_time_to=at(3))
    )
    assert [x.name for x in window.meetings] == [names[1], names[2], other.name]
    assert window.total_size == 3
    by_email = await alice.ListMeetings(m.ListMeetingsRequest(participant="ZOE@example.com"))
    assert [x.name for x in by_email.meetings] == [other.name]
    first = await alice.ListMeetings(m.ListMeetingsRequest(page_size=1))
    reused = m.ListMeetingsRequest(page_token=first.next_page_token, order_by="start_time desc")
    assert await bad_fields(alice.ListMeetings(reused)) == {"page_token"}


def hours_ago(hours: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) - timedelta(hours=hours))
    return stamp


async def state(user: User, name: str) -> int:
    return (await user.GetMeeting(m.GetMeetingRequest(name=name))).meeting.state


async def test_a_meeting_two_hours_past_its_end_reads_as_ended(alice: User):
    lapsed = (await new_meeting(alice, start_time=hours_ago(4))).name  # ended 3 h ago
    moved = (await new_meeting(alice, start_time=hours_ago(5))).name
    recent = (await new_meeting(alice, start_time=hours_ago(2))).name  # ended 1 h ago
    assert [await state(alice, n) for n in (lapsed, moved, recent)] == [
        meeting_pb2.MEETING_STATE_ENDED,
        meeting_pb2.MEETING_STATE_ENDED,
        meeting_pb2.MEETING_STATE_SCHEDULED,
    ]

    async def listed(wanted: int) -> set[str]:
        reply = await alice.ListMeetings(m.ListMeetingsRequest(state=wanted))
        return {x.name for x in reply.meetings}

    assert await listed(meeting_pb2.MEETING_STATE_ENDED) == {lapsed, moved}
    assert await listed(meeting_pb2.MEETING_STATE_SCHEDULED) == {recent}

    await alice.JoinMeeting(m.JoinMeetingRequest(name=lapsed))  # a join brings it back
    assert await state(alice, lapsed) == meeting_pb2.MEETING_STATE_IN_PROGRESS
    assert await listed(meeting_pb2.MEETING_STATE_IN_PROGRESS) == {lapsed}
    left = await alice.LeaveMeeting(m.LeaveMeetingRequest(name=lapsed))
    assert left.meeting_state == meeting_pb2.MEETING_STATE_ENDED
    later = meeting_pb2.Meeting(name=moved, start_time=at(1), end_time=at(2))  # so does a new time
    await alice.UpdateMeeting(
        m.UpdateMeetingRequest(meeting=later, update_mask=mask("start_time", "end_time"))
    )
    assert await state(alice, moved) == meeting_pb2.MEETING_STATE_SCHEDULED


async def test_the_grace_after_the_end_is_a_setting(
    settings: MeetingsSettings, tokens: TokenFactory
):
    running = await start_meetings(settings.model_copy(update={"meetings_auto_end_after": 0}))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            alice = User(meetings_pb2_grpc.MeetingsServiceStub(channel),
                         tokens.metadata(subject="users/alice"))  # fmt: skip
            name = (await new_meeting(alice, start_time=hours_ago(2))).name
            assert await state(alice, name) == meeting_pb2.MEETING_STATE_ENDED
            await alice.JoinMeeting(m.JoinMeetingRequest(name=name))
            assert (
                await state(alice, name) == meeting_pb2.MEETING_STATE_ENDED
            )  # nobody joined since
    finally:
        await running.stop()


async def test_upload_refuses_what_is_not_audio_and_stores_the_rest(alice: User):
    meeting = await new_meeting(alice)
    name = meeting.name
    assert await bad_fields(upload(alice, name, b"hello, not audio")) == {"body.data"}
    assert await bad_fields(upload(alice, name, wav(), "audio/mpeg")) == {"body.content_type"}
    assert await bad_fields(upload(alice, name, wav(seconds=10))) == {"body.data"}  # > 200 kB
    await failure(
        alice.GetTranscript(m.GetTranscriptRequest(name=f"{name}/transcript")),
        grpc.StatusCode.NOT_FOUND,
    )
    stored = (await upload(alice, name, wav())).recording
    assert stored.state == meeting_pb2.RECORDING_STATE_UPLOADED
    assert stored.content_type == "audio/wav"
    assert stored.size_bytes == len(wav())
    assert stored.uploader == "users/alice"
    assert stored.file_name == "call.wav"
    listed = await alice.ListRecordings(m.ListRecordingsRequest(parent=name))
    assert [r.name for r in listed.recordings] == [stored.name]
    transcript = await alice.GetTranscript(m.GetTranscriptRequest(name=f"{name}/transcript"))
    assert transcript.transcript.state == meeting_pb2.PROCESSING_STATE_RUNNING
    summary = await alice.GetSummary(m.GetSummaryRequest(name=f"{name}/summary"))
    assert summary.summary.state == meeting_pb2.PROCESSING_STATE_PENDING
    await failure(
        alice.RegenerateSummary(m.RegenerateSummaryRequest(name=name)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    await failure(
        alice.DeleteMeeting(m.DeleteMeetingRequest(name=name)), grpc.StatusCode.FAILED_PRECONDITION
    )
    await alice.DeleteRecording(m.DeleteRecordingRequest(name=stored.name))
    await alice.DeleteMeeting(m.DeleteMeetingRequest(name=name))


def recording_files(settings: MeetingsSettings) -> set[Path]:
    return {p for p in (settings.data_dir / "meetings").rglob("*") if p.is_file()}


async def test_forced_deletes_take_the_recording_files_with_them(
    alice: User, settings: MeetingsSettings
):
    client = await new_client(alice)
    project = await new_project(alice, client=client.name)
    other = await new_project(alice)
    for parent in (project, other):
        meeting = await new_meeting(alice, project=parent.name)
        await upload(alice, meeting.name, wav())
    assert len(recording_files(settings)) == 2
    await alice.DeleteProject(m.DeleteProjectRequest(name=other.name, force=True))
    assert len(recording_files(settings)) == 1
    await alice.DeleteClient(m.DeleteClientRequest(name=client.name, force=True))
    assert recording_files(settings) == set()


async def test_an_erased_account_leaves_no_recording_files(
    settings: MeetingsSettings, tokens: TokenFactory, nats_server: NatsServer
):
    """Auth announces the deletion on NATS: the meetings of the account's projects go, and so
    do their files; another user's stay."""
    running = await start(SPEC, settings.model_copy(update={"nats_url": nats_server.url}))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = meetings_pb2_grpc.MeetingsServiceStub(channel)
            gone = User(stub, tokens.metadata(subject="users/gone"))
            stays = User(stub, tokens.metadata(subject="users/stays"))
            for who in (gone, stays):
                meeting = await new_meeting(who, project=(await new_project(who)).name)
                await upload(who, meeting.name, wav())
            assert len(recording_files(settings)) == 2
            await announce_user_deleted(nats_server.url, "users/gone")

            async def erased() -> bool:
                return len(recording_files(settings)) == 1

            await eventually(erased)
            listed = await stays.ListMeetings(m.ListMeetingsRequest())
            assert listed.total_size == 1
    finally:
        await running.stop()


async def test_joins_and_leaves_are_announced(
    settings: MeetingsSettings, tokens: TokenFactory, nats_server: NatsServer
):
    running = await start(SPEC, settings.model_copy(update={"nats_url": nats_server.url}))
    listener = await nats.connect(nats_server.url)
    try:
        heard = await listener.subscribe("voka.meetings.participant.>")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            alice = User(meetings_pb2_grpc.MeetingsServiceStub(channel),
                         tokens.metadata(subject="users/alice"))  # fmt: skip
            meeting = (await new_meeting(alice)).name
            me = await alice.JoinMeeting(m.JoinMeetingRequest(name=meeting, display_name="Al"))
            await alice.LeaveMeeting(m.LeaveMeetingRequest(name=meeting))
        joined, left = [await heard.next_msg(timeout=5) for _ in range(2)]
        assert (joined.subject, left.subject) == (
            "voka.meetings.participant.joined", "voka.meetings.participant.left",
        )  # fmt: skip
        entered = events_pb2.ParticipantJoinedEvent.FromString(joined.data)
        assert (entered.meeting, entered.participant, entered.display_name, entered.owner) == (
            meeting, me.participant.name, "Al", "users/alice",
        )  # fmt: skip
        went = events_pb2.ParticipantLeftEvent.FromString(left.data)
        assert (went.meeting, went.participant) == (meeting, me.participant.name)
        assert went.leave_time.ToDatetime() >= me.participant.join_time.ToDatetime()
    finally:
        await listener.close()
        await running.stop()
