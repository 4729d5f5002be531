"""Client and project RPCs, mixed into the servicer.

Each handler checks its request first (all bad fields at once; a create also names a `client`
that is not the caller's in the same answer), then does its work in one transaction through
the caller's `Tenant`, so every row it reads or writes is the caller's own. Another user's
resource answers NOT_FOUND, exactly like a missing one.
"""

from __future__ import annotations

from services.meetings import audio_files, convert, validation
from services.meetings.chat_store import ChatRepo
from services.meetings.deps import Deps
from services.meetings.figures import meeting_figures
from services.meetings.meeting_store import MeetingRepo, meetings
from services.meetings.records import (
    ClientRecord,
    ProjectRecord,
    changed_client,
    changed_project,
    new_client,
    new_project,
)
from services.meetings.rpc_common import (
    Context,
    check,
    new_id,
    now,
    owner,
    requested_page,
    resource_id,
    valid,
)
from services.meetings.store import CLIENT_ORDERS, PROJECT_ORDERS, Store, Tenant
from services.meetings.validation import (
    CLIENT_FIELDS,
    CLIENT_OUTPUT_ONLY,
    PROJECT_FIELDS,
    PROJECT_OUTPUT_ONLY,
)
from voka import errors
from voka.errors import FieldViolation
from voka.meetings.v1 import meetings_pb2, project_pb2
from voka.pagination import next_token

CLIENT = "meetings.voka.dev/Client"
PROJECT = "meetings.voka.dev/Project"


class ClientProjectRpcs:
    """Clients and projects, each owned by the user who created it; `_deps` is set by the
    servicer."""

    _deps: Deps

    @property
    def _store(self) -> Store:
        return self._deps.store

    # Clients

    async def CreateClient(
        self, request: meetings_pb2.CreateClientRequest, context: Context
    ) -> meetings_pb2.CreateClientResponse:
        values, violations = validation.client_values(request.client, CLIENT_FIELDS, "client")
        check(violations)
        record = new_client(new_id(), owner(), values, now())
        async with self._store.tenant(record.owner) as tenant:
            await tenant.add_client(record)
            created = await _client(tenant, record.id)
        return meetings_pb2.CreateClientResponse(client=convert.client(created))

    async def GetClient(
        self, request: meetings_pb2.GetClientRequest, context: Context
    ) -> meetings_pb2.GetClientResponse:
        client_id = resource_id(request.name, "clients", "name")
        async with self._store.tenant(owner()) as tenant:
            record = await _client(tenant, client_id)
        return meetings_pb2.GetClientResponse(client=convert.client(record))

    async def ListClients(
        self, request: meetings_pb2.ListClientsRequest, context: Context
    ) -> meetings_pb2.ListClientsResponse:
        query, bad_query = validation.client_query(request)
        order, page = requested_page(request, query, bad_query, CLIENT_ORDERS)
        async with self._store.tenant(owner()) as tenant:
            listing = await tenant.list_clients(query, page)
        return meetings_pb2.ListClientsResponse(
            clients=[convert.client(r) for r in listing.items],
            next_page_token=next_token(order, query.fingerprint(), listing),
            total_size=listing.total,
        )

    async def UpdateClient(
        self, request: meetings_pb2.UpdateClientRequest, context: Context
    ) -> meetings_pb2.UpdateClientResponse:
        paths, violations = validation.update_paths(
            request.update_mask, CLIENT_FIELDS, CLIENT_OUTPUT_ONLY
        )
        client_id, bad_name = validation.resource_id(request.client.name, "clients", "client.name")
        values, bad_values = validation.client_values(request.client, paths, "client")
        client_id = valid(client_id, bad_name + violations + bad_values)
        async with self._store.tenant(owner()) as tenant:
            record = changed_client(await _client(tenant, client_id), values, now())
            await tenant.save_client(record)
            updated = await _client(tenant, client_id)
        return meetings_pb2.UpdateClientResponse(client=convert.client(updated))

    async def DeleteClient(
        self, request: meetings_pb2.DeleteClientRequest, context: Context
    ) -> meetings_pb2.DeleteClientResponse:
        """Without `force`, a client with projects stays (FAILED_PRECONDITION): deleting it
        would silently take the projects with it."""
        client_id = resource_id(request.name, "clients", "name")
        async with self._store.tenant(owner()) as tenant:
            if not await tenant.lock_client(client_id, exclusive=True):
                raise errors.not_found(CLIENT, request.name)
            count = await tenant.project_count(client_id)
            if count and not request.force:
                raise errors.failed_precondition(
                    f"client has {count} project(s); delete them first or set force",
                    "HAS_PROJECTS",
                    request.name,
                )
            paths = await MeetingRepo(tenant.session).recording_paths(
                meetings.c.project_id.in_(tenant.client_project_ids(client_id))
            )
            await tenant.delete_client(client_id)
        await audio_files.remove(*paths)
        return meetings_pb2.DeleteClientResponse()

    async def GetClientStats(
        self, request: meetings_pb2.GetClientStatsRequest, context: Context
    ) -> meetings_pb2.GetClientStatsResponse:
        client_id = resource_id(request.name, "clients", "name", "/stats")
        at = now()
        async with self._store.tenant(owner()) as tenant:
            if not await tenant.lock_client(client_id, exclusive=False):
                raise errors.not_found(CLIENT, convert.client_name(client_id))
            figures = await tenant.client_figures(client_id)
            held = await meeting_figures(tenant.session, tenant.client_project_ids(client_id), at)
        stats = convert.client_stats(client_id, figures, held, at)
        return meetings_pb2.GetClientStatsResponse(stats=stats)

    # Projects

    async def CreateProject(
        self, request: meetings_pb2.CreateProjectRequest, context: Context
    ) -> meetings_pb2.CreateProjectResponse:
        values, violations = validation.project_values(
            request.project, PROJECT_FIELDS, "project", creating=True
        )
        violations += validation.date_order(
            values.get("start_date"), values.get("due_date"), "project.due_date"
        )
        me = owner()
        async with self._store.tenant(me) as tenant:
            violations += await _client_violations(tenant, values.get("client_id"))
            check(violations)
            record = new_project(new_id(), me, values, now())
            await tenant.add_project(record)
        return meetings_pb2.CreateProjectResponse(project=convert.project(record))

    async def GetProject(
        self, request: meetings_pb2.GetProjectRequest, context: Context
    ) -> meetings_pb2.GetProjectResponse:
        project_id = resource_id(request.name, "projects", "name")
        async with self._store.tenant(owner()) as tenant:
            record = await tenant.project(project_id)
            if record is None:
                raise errors.not_found(PROJECT, request.name)
            (message,) = await _projects(tenant, [record])
        return meetings_pb2.GetProjectResponse(project=message)

    async def ListProjects(
        self, request: meetings_pb2.ListProjectsRequest, context: Context
    ) -> meetings_pb2.ListProjectsResponse:
        query, bad_query = validation.project_query(request)
        order, page = requested_page(request, query, bad_query, PROJECT_ORDERS)
        async with self._store.tenant(owner()) as tenant:
            listing = await tenant.list_projects(query, page)
            found = await _projects(tenant, listing.items)
        return meetings_pb2.ListProjectsResponse(
            projects=found,
            next_page_token=next_token(order, query.fingerprint(), listing),
            total_size=listing.total,
        )

    async def UpdateProject(
        self, request: meetings_pb2.UpdateProjectRequest, context: Context
    ) -> meetings_pb2.UpdateProjectResponse:
        """Fields are checked alone first; the new client and the date order are checked
        against the stored project, since either may come from it."""
        paths, violations = validation.update_paths(
            request.update_mask, PROJECT_FIELDS, PROJECT_OUTPUT_ONLY
        )
        name = request.project.name
        project_id, bad_name = validation.resource_id(name, "projects", "project.name")
        values, bad_values = validation.project_values(
            request.project, paths, "project", creating=False
        )
        project_id = valid(project_id, bad_name + violations + bad_values)
        async with self._store.tenant(owner()) as tenant:
            stored = await tenant.project(project_id)
            if stored is None:
                raise errors.not_found(PROJECT, name)
            record = changed_project(stored, values, now())
            check(
                await _client_violations(tenant, values.get("client_id"))
                + validation.date_order(record.start_date, record.due_date, "project.due_date")
            )
            await tenant.save_project(record)
            (message,) = await _projects(tenant, [record])
        return meetings_pb2.UpdateProjectResponse(project=message)

    async def DeleteProject(
        self, request: meetings_pb2.DeleteProjectRequest, context: Context
    ) -> meetings_pb2.DeleteProjectResponse:
        """Without `force`, a project with meetings stays (FAILED_PRECONDITION); with it, its
        meetings and all under them go by cascade."""
        project_id = resource_id(request.name, "projects", "name")
        async with self._store.tenant(owner()) as tenant:
            if await tenant.project(project_id) is None:
                raise errors.not_found(PROJECT, request.name)
            counts = await MeetingRepo(tenant.session).meeting_counts([project_id])
            if counts.get(project_id) and not request.force:
                raise errors.failed_precondition(
                    f"project has {counts[project_id]} meeting(s); delete them first or set force",
                    "HAS_MEETINGS",
                    request.name,
                )
            paths = await MeetingRepo(tenant.session).recording_paths(
                meetings.c.project_id == project_id
            )
            await tenant.delete_project(project_id)
        await audio_files.remove(*paths)
        return meetings_pb2.DeleteProjectResponse()

    async def GetProjectStats(
        self, request: meetings_pb2.GetProjectStatsRequest, context: Context
    ) -> meetings_pb2.GetProjectStatsResponse:
        project_id = resource_id(request.name, "projects", "name", "/stats")
        at = now()
        async with self._store.tenant(owner()) as tenant:
            record = await tenant.project(project_id)
            if record is None:
                raise errors.not_found(PROJECT, convert.project_name(project_id))
            held = await meeting_figures(tenant.session, [project_id], at)
            asked = await ChatRepo(tenant.session).question_counts([project_id])
        stats = convert.project_stats(record, held, asked.get(project_id, 0), at)
        return meetings_pb2.GetProjectStatsResponse(stats=stats)


async def _client(tenant: Tenant, client_id: str) -> ClientRecord:
    record = await tenant.client(client_id)
    if record is None:
        raise errors.not_found(CLIENT, convert.client_name(client_id))
    return record


async def _projects(tenant: Tenant, records: list[ProjectRecord]) -> list[project_pb2.Project]:
    """The projects as messages, with their meeting counts read in one query for them all."""
    counts = await MeetingRepo(tenant.session).meeting_counts(r.id for r in records)
    return [convert.project(r, counts.get(r.id, 0)) for r in records]


async def _client_violations(tenant: Tenant, client_id: str | None) -> list[FieldViolation]:
    """A project may only name one of the caller's own clients; someone else's client is
    reported like a missing one."""
    if client_id is None or await tenant.lock_client(client_id, exclusive=False):
        return []
    return [FieldViolation("project.client", "no such client")]
