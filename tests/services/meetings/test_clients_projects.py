"""The meetings service's client and project RPCs, served in process over gRPC, on an SQLite
file and on a fresh PostgreSQL database (every test runs on both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import grpc

from services.meetings.service import SPEC
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
    violations,
)
from tools.processes import NatsServer
from voka.config import Settings
from voka.meetings.v1 import client_pb2, meetings_pb2, meetings_pb2_grpc, project_pb2
from voka.server import Running, start

m = meetings_pb2
ACTIVE = project_pb2.PROJECT_STATUS_ACTIVE
PLANNING = project_pb2.PROJECT_STATUS_PLANNING
COMPLETED = project_pb2.PROJECT_STATUS_COMPLETED
ON_HOLD = project_pb2.PROJECT_STATUS_ON_HOLD


# Clients


async def test_create_then_get_client(alice: User):
    before = datetime.now(UTC)
    created = await new_client(
        alice,
        name="clients/mine",
        display_name="  Acme Corp ",
        contact_email="ana@acme.example",
        company="Acme",
        phone="+34 600 000 000",
        notes="# Notes\n",
        owner="users/mallory",
        project_count=9,
    )
    assert created.name.startswith("clients/")
    assert created.name != "clients/mine"
    assert len(created.name.removeprefix("clients/")) == 32
    assert created.display_name == "Acme Corp"  # trimmed
    assert created.owner == "users/alice"  # the caller, not what was sent
    assert created.project_count == 0
    assert created.create_time.ToDatetime(UTC) >= before - timedelta(seconds=1)
    assert created.update_time == created.create_time
    got = (await alice.GetClient(m.GetClientRequest(name=created.name))).client
    assert got == created
    assert (got.contact_email, got.company, got.phone, got.notes) == (
        "ana@acme.example",
        "Acme",
        "+34 600 000 000",
        "# Notes\n",
    )


async def test_client_validation_names_every_bad_field(alice: User):
    client = client_pb2.Client(
        display_name="   ", contact_email="not-an-email", phone="1" * 65, notes="x" * 20_001
    )
    fields = await bad_fields(alice.CreateClient(m.CreateClientRequest(client=client)))
    assert fields == {
        "client.display_name",
        "client.contact_email",
        "client.phone",
        "client.notes",
    }
    listed = await alice.ListClients(m.ListClientsRequest())
    assert listed.total_size == 0  # nothing was stored


async def test_update_client_changes_only_masked_fields(alice: User):
    created = await new_client(alice, display_name="Acme", company="Old", phone="1")
    change = client_pb2.Client(name=created.name, display_name="Ignored", company="New", phone="")
    updated = (
        await alice.UpdateClient(
            m.UpdateClientRequest(client=change, update_mask=mask("company", "phone"))
        )
    ).client
    assert (updated.display_name, updated.company, updated.phone) == ("Acme", "New", "")
    assert updated.create_time == created.create_time
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()
    got = (await alice.GetClient(m.GetClientRequest(name=created.name))).client
    assert got == updated


async def test_update_client_with_empty_mask_replaces_every_updatable_field(alice: User):
    created = await new_client(alice, display_name="Acme", company="Acme SA", notes="n")
    change = client_pb2.Client(name=created.name, display_name="Acme 2")
    updated = (await alice.UpdateClient(m.UpdateClientRequest(client=change))).client
    assert (updated.display_name, updated.company, updated.notes) == ("Acme 2", "", "")
    missing_name = client_pb2.Client(name=created.name, company="X")
    fields = await bad_fields(alice.UpdateClient(m.UpdateClientRequest(client=missing_name)))
    assert fields == {"client.display_name"}


async def test_update_mask_refuses_unknown_output_only_and_name_paths(alice: User):
    created = await new_client(alice, company="Kept")
    change = client_pb2.Client(name=created.name, company="Changed")
    request = m.UpdateClientRequest(
        client=change, update_mask=mask("company", "owner", "bogus", "name", "create_time")
    )
    found = await violations(alice.UpdateClient(request))
    assert [field for field, _ in found] == ["update_mask.paths"] * 4
    described = " ".join(description for _, description in found)
    for path in ("owner", "bogus", "name", "create_time"):
        assert repr(path) in described
    got = (await alice.GetClient(m.GetClientRequest(name=created.name))).client
    assert got.company == "Kept"


async def test_update_reports_mask_name_and_fields_together(alice: User):
    change = client_pb2.Client(name="projects/x", display_name="")
    request = m.UpdateClientRequest(client=change, update_mask=mask("display_name", "owner"))
    assert await bad_fields(alice.UpdateClient(request)) == {
        "client.name",
        "update_mask.paths",
        "client.display_name",
    }


async def test_malformed_names_are_invalid_and_unknown_ones_not_found(alice: User):
    for name in ("", "projects/abc", "clients/", "clients/a/b"):
        assert await bad_fields(alice.GetClient(m.GetClientRequest(name=name))) == {"name"}
    missing = "clients/" + "0" * 32
    error = await failure(
        alice.GetClient(m.GetClientRequest(name=missing)), grpc.StatusCode.NOT_FOUND
    )
    assert missing in error.details()
    await failure(
        alice.DeleteClient(m.DeleteClientRequest(name=missing)), grpc.StatusCode.NOT_FOUND
    )
    stats = m.GetClientStatsRequest(name=missing + "/stats")
    await failure(alice.GetClientStats(stats), grpc.StatusCode.NOT_FOUND)


async def test_delete_client_without_projects(alice: User):
    created = await new_client(alice)
    await alice.DeleteClient(m.DeleteClientRequest(name=created.name))
    await failure(alice.GetClient(m.GetClientRequest(name=created.name)), grpc.StatusCode.NOT_FOUND)
    assert (await alice.ListClients(m.ListClientsRequest())).total_size == 0


async def test_delete_client_with_projects_needs_force(alice: User):
    client = await new_client(alice)
    projects = [await new_project(alice, client=client.name, title=f"P{i}") for i in range(2)]
    internal = await new_project(alice, title="Internal")
    error = await failure(
        alice.DeleteClient(m.DeleteClientRequest(name=client.name)),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert "2 project" in error.details()
    got = (await alice.GetClient(m.GetClientRequest(name=client.name))).client
    assert got.project_count == 2
    await alice.DeleteClient(m.DeleteClientRequest(name=client.name, force=True))
    await failure(alice.GetClient(m.GetClientRequest(name=client.name)), grpc.StatusCode.NOT_FOUND)
    for project in projects:
        request = m.GetProjectRequest(name=project.name)
        await failure(alice.GetProject(request), grpc.StatusCode.NOT_FOUND)
    left = await alice.ListProjects(m.ListProjectsRequest())
    assert [p.name for p in left.projects] == [internal.name]


async def test_list_clients_pages_have_no_duplicates_or_gaps(alice: User):
    names = ["delta", "Alpha", "charlie", "Bravo", "echo", "Foxtrot", "golf"]
    created = {
        c.display_name: c.name for c in [await new_client(alice, display_name=n) for n in names]
    }
    found = await pages(alice, "ListClients", "clients", page_size=3)
    assert [len(page) for page in found] == [3, 3, 1]
    in_order = sorted(names, key=str.casefold)  # display_name, case-insensitive
    assert [name for page in found for name in page] == [created[n] for n in in_order]
    newest = await pages(alice, "ListClients", "clients", page_size=2, order_by="create_time desc")
    assert [name for page in newest for name in page] == [created[n] for n in reversed(names)]


async def test_list_clients_keyset_survives_inserts_between_pages(alice: User):
    for name in ("b", "d", "f", "h"):
        await new_client(alice, display_name=name)
    first = await alice.ListClients(m.ListClientsRequest(page_size=2))
    assert [c.display_name for c in first.clients] == ["b", "d"]
    await new_client(alice, display_name="a")  # sorts before the cursor: must not shift pages
    await new_client(alice, display_name="e")  # after it: must show up once
    rest = await alice.ListClients(
        m.ListClientsRequest(page_size=10, page_token=first.next_page_token)
    )
    assert [c.display_name for c in rest.clients] == ["e", "f", "h"]
    assert rest.next_page_token == ""
    assert rest.total_size == 6


async def test_page_size_default_clamp_and_negative(alice: User):
    for i in range(51):
        await new_client(alice, display_name=f"client {i:02d}")
    default = await alice.ListClients(m.ListClientsRequest())
    assert len(default.clients) == 50
    assert default.next_page_token
    assert default.total_size == 51
    clamped = await alice.ListClients(m.ListClientsRequest(page_size=10_000))
    assert len(clamped.clients) == 51
    assert clamped.next_page_token == ""
    request = m.ListClientsRequest(page_size=-1)
    assert await bad_fields(alice.ListClients(request)) == {"page_size"}


async def test_page_token_belongs_to_its_query(alice: User):
    for name in ("Ann", "Anna", "Annie"):
        await new_client(alice, display_name=name)
    first = await alice.ListClients(m.ListClientsRequest(page_size=1, search="ann"))
    assert first.next_page_token
    other = m.ListClientsRequest(page_size=1, search="anna", page_token=first.next_page_token)
    assert await bad_fields(alice.ListClients(other)) == {"page_token"}
    reordered = m.ListClientsRequest(
        search="ann", order_by="create_time desc", page_token=first.next_page_token
    )
    assert await bad_fields(alice.ListClients(reordered)) == {"page_token"}
    garbage = m.ListClientsRequest(page_token="not a token", order_by="nonsense", page_size=-5)
    assert await bad_fields(alice.ListClients(garbage)) == {"page_token", "order_by", "page_size"}
    bigger = m.ListClientsRequest(page_size=5, search="ann", page_token=first.next_page_token)
    rest = await alice.ListClients(bigger)  # a new page size is fine
    assert [c.display_name for c in rest.clients] == ["Anna", "Annie"]


async def test_list_clients_search_and_company_filter(alice: User):
    acme = await new_client(alice, display_name="Ana Pérez", company="ACME", notes="Prefers calls")
    await new_client(alice, display_name="Bob", company="acme", contact_email="bob@acme.example")
    nandu = await new_client(alice, display_name="Ñandú Ltd", company="Ñandú")
    await new_client(alice, display_name="Percent", notes="discount 100% off")

    async def search(**request: Any) -> list[str]:
        reply = await alice.ListClients(m.ListClientsRequest(**request))
        assert reply.total_size == len(reply.clients)
        return sorted(c.display_name for c in reply.clients)

    assert await search(search="ana CALLS") == ["Ana Pérez"]  # all words, any field
    assert await search(search="ana bob") == []
    assert await search(search="acme.example") == ["Bob"]  # e-mail
    assert await search(company="Acme") == ["Ana Pérez", "Bob"]  # exact, any case
    assert await search(company="Acm") == []
    assert await search(search="ñANDÚ") == ["Ñandú Ltd"]  # non-ASCII folding on both engines
    assert await search(company="ñandú") == ["Ñandú Ltd"]
    assert await search(search="0%") == ["Percent"]  # % is literal, not a wildcard
    assert await search(search="%") == ["Percent"]
    assert await search(search="pérez", company="acme") == [acme.display_name]
    assert nandu.company == "Ñandú"


# Projects


async def test_create_then_get_project(alice: User):
    client = await new_client(alice)
    created = await new_project(
        alice,
        client=client.name,
        title="Website",
        description="New *site*",
        progress_percent=10,
        budget=project_pb2.Money(currency_code="EUR", amount_minor=1_050_000),
        estimated_hours="120.50",
        spent_hours="3",
        start_date="2025-03-01",
        due_date="2025-06-30",
        tags=["Web", "design", "web"],
        meeting_count=7,
        owner="users/mallory",
    )
    assert created.name.startswith("projects/")
    assert created.client == client.name
    assert created.status == PLANNING  # unset at create
    assert created.estimated_hours == "120.5"
    assert created.spent_hours == "3"
    assert list(created.tags) == ["web", "design"]  # lower case, once each, in order
    assert created.budget == project_pb2.Money(currency_code="EUR", amount_minor=1_050_000)
    assert created.owner == "users/alice"
    assert created.meeting_count == 0
    assert not created.HasField("complete_time")
    got = (await alice.GetProject(m.GetProjectRequest(name=created.name))).project
    assert got == created
    counted = (await alice.GetClient(m.GetClientRequest(name=client.name))).client
    assert counted.project_count == 1


async def test_internal_project_has_no_client_or_budget(alice: User):
    created = await new_project(alice, title="Internal", status=COMPLETED)
    assert created.client == ""
    assert not created.HasField("budget")
    assert created.estimated_hours == ""
    assert created.start_date == ""
    assert list(created.tags) == []
    assert created.status == COMPLETED
    assert created.HasField("complete_time")


async def test_project_validation_names_every_bad_field(alice: User):
    project = project_pb2.Project(
        client="customers/1",
        title="",
        status=99,  # type: ignore[arg-type]
        progress_percent=101,
        budget=project_pb2.Money(currency_code="eur", amount_minor=-1),
        estimated_hours="1.234",
        spent_hours="-3",
        start_date="2025-02-30",
        due_date="30/06/2025",
        tags=["ok", "x" * 41, "  "],
    )
    fields = await bad_fields(alice.CreateProject(m.CreateProjectRequest(project=project)))
    assert fields == {
        "project.client",
        "project.title",
        "project.status",
        "project.progress_percent",
        "project.budget.currency_code",
        "project.budget.amount_minor",
        "project.estimated_hours",
        "project.spent_hours",
        "project.start_date",
        "project.due_date",
        "project.tags[1]",
        "project.tags[2]",
    }
    too_many = project_pb2.Project(title="T", tags=[f"t{i}" for i in range(21)])
    assert await bad_fields(alice.CreateProject(m.CreateProjectRequest(project=too_many))) == {
        "project.tags"
    }
    assert (await alice.ListProjects(m.ListProjectsRequest())).total_size == 0


async def test_project_dates_must_be_in_order(alice: User):
    request = m.CreateProjectRequest(
        project=project_pb2.Project(title="T", start_date="2025-05-01", due_date="2025-04-30")
    )
    assert await bad_fields(alice.CreateProject(request)) == {"project.due_date"}
    created = await new_project(alice, start_date="2025-05-01")
    change = project_pb2.Project(name=created.name, due_date="2025-04-01")
    update = m.UpdateProjectRequest(project=change, update_mask=mask("due_date"))
    assert await bad_fields(alice.UpdateProject(update)) == {"project.due_date"}


async def test_project_client_must_exist_and_be_the_callers(alice: User, bob: User):
    bobs = await new_client(bob)
    for client in (bobs.name, "clients/" + "0" * 32):
        request = m.CreateProjectRequest(project=project_pb2.Project(title="", client=client))
        found = await violations(alice.CreateProject(request))
        assert {f for f, _ in found} == {"project.title", "project.client"}
    mine = await new_project(alice)
    change = project_pb2.Project(name=mine.name, client=bobs.name)
    update = m.UpdateProjectRequest(project=change, update_mask=mask("client"))
    assert await bad_fields(alice.UpdateProject(update)) == {"project.client"}
    got = (await alice.GetProject(m.GetProjectRequest(name=mine.name))).project
    assert got.client == ""
    bobs_now = (await bob.GetClient(m.GetClientRequest(name=bobs.name))).client
    assert bobs_now.project_count == 0


async def test_update_project_changes_only_masked_fields(alice: User):
    client = await new_client(alice)
    created = await new_project(
        alice, title="Site", description="d", tags=["a"], progress_percent=5
    )
    change = project_pb2.Project(
        name=created.name,
        title="Ignored",
        client=client.name,
        status=COMPLETED,
        progress_percent=100,
        tags=["B", "c"],
    )
    request = m.UpdateProjectRequest(
        project=change, update_mask=mask("client", "status", "progress_percent", "tags")
    )
    updated = (await alice.UpdateProject(request)).project
    assert (updated.title, updated.description) == ("Site", "d")
    assert (updated.client, updated.status, updated.progress_percent) == (
        client.name,
        COMPLETED,
        100,
    )
    assert list(updated.tags) == ["b", "c"]
    assert updated.HasField("complete_time")
    assert updated.update_time.ToDatetime() > created.update_time.ToDatetime()
    got = (await alice.GetProject(m.GetProjectRequest(name=created.name))).project
    assert got == updated
    tagged = await alice.ListProjects(m.ListProjectsRequest(tag="a"))
    assert tagged.total_size == 0  # the old tag went with the replacement


async def test_update_project_mask_errors_and_status_rules(alice: User):
    created = await new_project(alice, status=ACTIVE)
    change = project_pb2.Project(name=created.name, title="")
    request = m.UpdateProjectRequest(
        project=change, update_mask=mask("title", "status", "meeting_count", "budget.currency_code")
    )
    found = await violations(alice.UpdateProject(request))
    assert sorted(f for f, _ in found) == [
        "project.status",  # UNSPECIFIED is only for create
        "project.title",
        "update_mask.paths",
        "update_mask.paths",
    ]
    got = (await alice.GetProject(m.GetProjectRequest(name=created.name))).project
    assert got == created


async def test_reopening_keeps_the_last_complete_time(alice: User):
    created = await new_project(alice, status=COMPLETED)

    async def set_status(status: int) -> project_pb2.Project:
        change = project_pb2.Project(name=created.name, status=status)  # type: ignore[arg-type]
        request = m.UpdateProjectRequest(project=change, update_mask=mask("status"))
        return (await alice.UpdateProject(request)).project

    reopened = await set_status(ACTIVE)
    assert reopened.complete_time == created.complete_time
    again = await set_status(COMPLETED)
    assert again.complete_time.ToDatetime() > created.complete_time.ToDatetime()


async def test_delete_project(alice: User):
    created = await new_project(alice)
    await alice.DeleteProject(m.DeleteProjectRequest(name=created.name))
    for call in (
        alice.GetProject(m.GetProjectRequest(name=created.name)),
        alice.DeleteProject(m.DeleteProjectRequest(name=created.name)),
    ):
        await failure(call, grpc.StatusCode.NOT_FOUND)
    assert (await alice.ListProjects(m.ListProjectsRequest())).total_size == 0


async def test_list_projects_filters_and_search(alice: User):
    acme = await new_client(alice, display_name="Acme")
    other = await new_client(alice, display_name="Other")
    site = await new_project(alice, client=acme.name, title="Web site", tags=["web"], status=ACTIVE)
    app = await new_project(
        alice, client=acme.name, title="App", description="Mobile app for the WEB team"
    )
    await new_project(alice, client=other.name, title="Brochure", tags=["print"], status=ACTIVE)
    await new_project(alice, title="Internal tooling", tags=["web-tools"])

    async def names(**request: Any) -> set[str]:
        reply = await alice.ListProjects(m.ListProjectsRequest(**request))
        assert reply.total_size == len(reply.projects)
        return {p.name for p in reply.projects}

    assert await names(client=acme.name) == {site.name, app.name}
    assert await names(status=ACTIVE, client=acme.name) == {site.name}
    assert len(await names(status=ACTIVE)) == 2
    assert await names(tag="WEB") == {site.name}  # exact tag, not "web-tools"
    assert await names(search="web") == {site.name, app.name} | await names(tag="web-tools")
    assert await names(search="mobile team") == {app.name}  # description
    assert await names(search="web print") == set()
    assert await names(client="clients/" + "0" * 32) == set()
    bad = m.ListProjectsRequest(client="acme", status=42, order_by="title desc")  # type: ignore[arg-type]
    assert await bad_fields(alice.ListProjects(bad)) == {"client", "status", "order_by"}


async def test_list_projects_orders_page_without_duplicates_or_gaps(alice: User):
    specs = [
        ("Echo", "2025-05-01", 50),
        ("alpha", "", 10),
        ("Delta", "2025-01-15", 50),
        ("bravo", "2025-01-15", 90),
        ("Charlie", "", 0),
    ]
    made = {}
    for title, due, progress in specs:
        made[title] = (
            await new_project(alice, title=title, due_date=due, progress_percent=progress)
        ).name

    async def ordered(order_by: str) -> list[str]:
        found = await pages(alice, "ListProjects", "projects", page_size=2, order_by=order_by)
        assert all(len(page) <= 2 for page in found)
        assert len(found) == 3
        flat = [name for page in found for name in page]
        assert len(flat) == len(set(flat)) == 5
        return flat

    assert await ordered("title") == [
        made[t] for t in ("alpha", "bravo", "Charlie", "Delta", "Echo")
    ]
    by_due = await ordered("due_date")
    assert set(by_due[:2]) == {made["Delta"], made["bravo"]}  # same day: id breaks the tie
    assert by_due[2] == made["Echo"]
    assert set(by_due[3:]) == {made["alpha"], made["Charlie"]}  # no due date: last
    by_progress = await ordered("progress_percent desc")
    assert by_progress[0] == made["bravo"]
    assert by_progress[-1] == made["Charlie"]
    assert set(by_progress[1:3]) == {made["Echo"], made["Delta"]}
    assert await ordered("") == [made[t] for t, _, _ in reversed(specs)]  # update_time desc


# Stats


async def test_client_stats_are_computed_over_its_projects(alice: User, bob: User):
    client = await new_client(alice)
    other = await new_client(alice, display_name="Other")
    money = project_pb2.Money

    async def project(**fields: Any) -> None:
        await new_project(alice, client=client.name, **fields)

    await project(
        status=ACTIVE,
        progress_percent=40,
        budget=money(currency_code="EUR", amount_minor=1000),
        estimated_hours="10.5",
        spent_hours="2.25",
    )
    await project(
        status=ACTIVE,
        progress_percent=45,
        budget=money(currency_code="EUR", amount_minor=250),
        estimated_hours="4",
    )
    await project(
        status=COMPLETED, progress_percent=100, budget=money(currency_code="USD", amount_minor=7)
    )
    await project(status=ON_HOLD, progress_percent=0)
    await new_project(
        alice, client=other.name, status=ACTIVE, progress_percent=1, estimated_hours="99"
    )
    await new_project(bob, status=ACTIVE, estimated_hours="50")

    before = datetime.now(UTC) - timedelta(seconds=1)
    request = m.GetClientStatsRequest(name=client.name + "/stats")
    stats = (await alice.GetClientStats(request)).stats
    assert stats.client == client.name
    assert stats.project_count == 4
    assert [(s.status, s.count) for s in stats.projects_by_status] == [
        (ACTIVE, 2),
        (ON_HOLD, 1),
        (COMPLETED, 1),
    ]
    assert [(b.currency_code, b.amount_minor) for b in stats.budget_totals] == [
        ("EUR", 1250),
        ("USD", 7),
    ]
    assert (stats.estimated_hours, stats.spent_hours) == ("14.5", "2.25")
    assert stats.average_progress_percent == 43  # (40 + 45) / 2 = 42.5, half up
    assert stats.meeting_count == 0
    assert not stats.HasField("next_meeting_time")
    assert stats.compute_time.ToDatetime(UTC) >= before

    empty = await new_client(alice, display_name="Empty")
    bare = (await alice.GetClientStats(m.GetClientStatsRequest(name=empty.name + "/stats"))).stats
    assert (bare.project_count, bare.estimated_hours, bare.average_progress_percent) == (0, "0", 0)
    assert list(bare.projects_by_status) == []
    assert list(bare.budget_totals) == []
    assert await bad_fields(alice.GetClientStats(m.GetClientStatsRequest(name=client.name))) == {
        "name"
    }


async def test_project_stats(alice: User):
    due = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    project = await new_project(
        alice,
        status=ACTIVE,
        progress_percent=30,
        estimated_hours="8",
        spent_hours="2.5",
        due_date=due,
        budget=project_pb2.Money(currency_code="JPY", amount_minor=5000),
    )
    request = m.GetProjectStatsRequest(name=project.name + "/stats")
    stats = (await alice.GetProjectStats(request)).stats
    assert stats.project == project.name
    assert (stats.status, stats.progress_percent) == (ACTIVE, 30)
    assert (stats.estimated_hours, stats.spent_hours, stats.hours_used_percent) == ("8", "2.5", 31)
    assert stats.days_until_due == 10
    assert stats.budget == project_pb2.Money(currency_code="JPY", amount_minor=5000)
    assert stats.meeting_count == 0
    assert stats.recording_count == 0

    plain = await new_project(alice, title="Plain")
    bare = (await alice.GetProjectStats(m.GetProjectStatsRequest(name=plain.name + "/stats"))).stats
    assert (bare.hours_used_percent, bare.days_until_due, bare.estimated_hours) == (0, 0, "0")
    assert not bare.HasField("budget")


# Tenancy and access


async def test_users_never_see_or_change_each_others_data(alice: User, bob: User):
    for word, owner, stranger in (("alpha", alice, bob), ("bravo", bob, alice)):
        client = await new_client(owner, display_name=word, company=f"{word} Ltd")
        project = await new_project(owner, client=client.name, title=word, tags=[word])
        calls = [
            stranger.GetClient(m.GetClientRequest(name=client.name)),
            stranger.UpdateClient(
                m.UpdateClientRequest(client=client_pb2.Client(name=client.name, display_name="X"))
            ),
            stranger.DeleteClient(m.DeleteClientRequest(name=client.name, force=True)),
            stranger.GetClientStats(m.GetClientStatsRequest(name=client.name + "/stats")),
            stranger.GetProject(m.GetProjectRequest(name=project.name)),
            stranger.UpdateProject(
                m.UpdateProjectRequest(
                    project=project_pb2.Project(name=project.name, title="X"),
                    update_mask=mask("title"),
                )
            ),
            stranger.DeleteProject(m.DeleteProjectRequest(name=project.name, force=True)),
            stranger.GetProjectStats(m.GetProjectStatsRequest(name=project.name + "/stats")),
        ]
        for call in calls:
            await failure(call, grpc.StatusCode.NOT_FOUND)
        assert (await stranger.ListClients(m.ListClientsRequest(search=word))).total_size == 0
        listed = await stranger.ListClients(m.ListClientsRequest(company=f"{word} ltd"))
        assert listed.clients == []
        by_client = await stranger.ListProjects(m.ListProjectsRequest(client=client.name))
        assert by_client.total_size == 0
        assert (await stranger.ListProjects(m.ListProjectsRequest(tag=word))).projects == []
        assert (await stranger.ListProjects(m.ListProjectsRequest(search=word))).projects == []
        # Untouched for the owner.
        client.project_count = 1
        assert (await owner.GetClient(m.GetClientRequest(name=client.name))).client == client
        got = (await owner.GetProject(m.GetProjectRequest(name=project.name))).project
        assert got == project
        mine = await owner.ListProjects(m.ListProjectsRequest())
        assert [p.name for p in mine.projects] == [project.name]


async def test_restart_migrates_nothing_and_keeps_the_data(
    settings: Settings, tokens: TokenFactory
):
    async def call(running: Running, rpc: str, request: Any) -> Any:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = meetings_pb2_grpc.MeetingsServiceStub(channel)
            return await getattr(stub, rpc)(request, metadata=tokens.metadata())

    first = await start_meetings(settings)
    try:
        client = client_pb2.Client(display_name="Kept")
        created = (await call(first, "CreateClient", m.CreateClientRequest(client=client))).client
    finally:
        await first.stop()
    second = await start_meetings(settings)  # runs the migrations again: a no-op
    try:
        got = await call(second, "GetClient", m.GetClientRequest(name=created.name))
    finally:
        await second.stop()
    assert got.client == created


async def test_anonymous_calls_are_unauthenticated(stub):
    calls = [
        stub.ListClients(m.ListClientsRequest()),
        stub.CreateClient(m.CreateClientRequest(client=client_pb2.Client(display_name="A"))),
        stub.GetProject(m.GetProjectRequest(name="projects/x")),
    ]
    for call in calls:
        await failure(call, grpc.StatusCode.UNAUTHENTICATED)


async def test_deleted_user_clients_and_projects_are_erased(
    settings: Settings, tokens: TokenFactory, nats_server: NatsServer
) -> None:
    """Auth announces a deletion on NATS: that owner's clients and projects go, others stay."""
    running = await start(SPEC, settings.model_copy(update={"nats_url": nats_server.url}))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = meetings_pb2_grpc.MeetingsServiceStub(channel)
            gone = User(stub, tokens.metadata(subject="users/gone"))
            stays = User(stub, tokens.metadata(subject="users/stays"))
            for who in (gone, stays):
                client = await new_client(who)
                await new_project(who, client=client.name)
            await announce_user_deleted(nats_server.url, "users/gone")

            async def erased() -> bool:
                return (await gone.ListClients(m.ListClientsRequest())).total_size == 0

            await eventually(erased)
            assert (await gone.ListProjects(m.ListProjectsRequest())).total_size == 0
            assert (await stays.ListClients(m.ListClientsRequest())).total_size == 1
            assert (await stays.ListProjects(m.ListProjectsRequest())).total_size == 1
    finally:
        await running.stop()
