"""Project RPCs. A project is its owner's (`voka.tenancy`): anyone else gets NOT_FOUND, exactly
like for a missing one; a list shows the caller's own. A project's client must be its owner's
too (the tables' composite foreign key), and a client of someone else's is reported like a
missing one, in the same answer as the request's other bad fields."""

from __future__ import annotations

from services.meetings.clients import convert, validation
from services.meetings.clients.records import ProjectRecord, changed_project, new_project
from services.meetings.clients.store import PROJECT_ORDERS
from services.meetings.clients.validation import PROJECT_FIELDS, PROJECT_OUTPUT_ONLY
from services.meetings.database import Stores
from services.meetings.meetings import audio_files
from services.meetings.rpcs.base import (
    Context,
    RpcBase,
    check,
    id_of,
    now,
    requested_page,
    valid,
    visible_project,
)
from services.meetings.schema import new_id
from services.meetings.validation import resource_id, update_paths
from voka import authn, errors, tenancy
from voka.errors import FieldViolation
from voka.meetings.v1 import meetings_pb2, project_pb2
from voka.pagination import next_token


async def _messages(stores: Stores, records: list[ProjectRecord]) -> list[project_pb2.Project]:
    """The projects as messages, with their meeting counts read in one query for them all."""
    counts = await stores.meetings.counts(r.id for r in records)
    return [convert.project(r, counts.get(r.id, 0)) for r in records]


async def _client_violations(
    stores: Stores, client_id: str | None, owner: str
) -> list[FieldViolation]:
    """A project may only name a client of its own owner; someone else's client is reported
    like a missing one. The client's row stays locked (shared) until the transaction ends."""
    if client_id is None or await stores.clients.lock(client_id, exclusive=False) == owner:
        return []
    return [FieldViolation("project.client", "no such client")]


class ProjectsRpcs(RpcBase):
    async def CreateProject(
        self, request: meetings_pb2.CreateProjectRequest, context: Context
    ) -> meetings_pb2.CreateProjectResponse:
        values, violations = validation.project_values(
            request.project, PROJECT_FIELDS, "project", creating=True
        )
        violations += validation.date_order(
            values.get("start_date"), values.get("due_date"), "project.due_date"
        )
        owner = authn.caller().subject
        async with self._database.transaction() as stores:
            violations += await _client_violations(stores, values.get("client_id"), owner)
            check(violations)
            record = new_project(new_id(), owner, values, now())
            await stores.projects.add(record)
        return meetings_pb2.CreateProjectResponse(project=convert.project(record))

    async def GetProject(
        self, request: meetings_pb2.GetProjectRequest, context: Context
    ) -> meetings_pb2.GetProjectResponse:
        project_id = id_of(request.name, "projects", "name")
        async with self._database.transaction() as stores:
            record = await visible_project(stores, project_id)
            (message,) = await _messages(stores, [record])
        return meetings_pb2.GetProjectResponse(project=message)

    async def ListProjects(
        self, request: meetings_pb2.ListProjectsRequest, context: Context
    ) -> meetings_pb2.ListProjectsResponse:
        query, bad_query = validation.project_query(request)
        order, page = requested_page(request, query, bad_query, PROJECT_ORDERS)
        owner = tenancy.list_owner("")  # the contract has no owner filter: the caller's own
        async with self._database.transaction() as stores:
            listing = await stores.projects.listing(owner, query, page)
            found = await _messages(stores, listing.items)
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
        paths, violations = update_paths(request.update_mask, PROJECT_FIELDS, PROJECT_OUTPUT_ONLY)
        project_id, bad_name = resource_id(request.project.name, "projects", "project.name")
        values, bad_values = validation.project_values(
            request.project, paths, "project", creating=False
        )
        project_id = valid(project_id, bad_name + violations + bad_values)
        async with self._database.transaction() as stores:
            stored = await visible_project(stores, project_id)
            record = changed_project(stored, values, now())
            check(
                await _client_violations(stores, values.get("client_id"), stored.owner)
                + validation.date_order(record.start_date, record.due_date, "project.due_date")
            )
            await stores.projects.save(record)
            (message,) = await _messages(stores, [record])
        return meetings_pb2.UpdateProjectResponse(project=message)

    async def DeleteProject(
        self, request: meetings_pb2.DeleteProjectRequest, context: Context
    ) -> meetings_pb2.DeleteProjectResponse:
        """Without `force`, a project with meetings stays (FAILED_PRECONDITION); with it, its
        meetings and all under them go by cascade."""
        project_id = id_of(request.name, "projects", "name")
        async with self._database.transaction() as stores:
            await visible_project(stores, project_id)
            count = (await stores.meetings.counts([project_id])).get(project_id, 0)
            if count and not request.force:
                raise errors.failed_precondition(
                    f"project has {count} meeting(s); delete them first or set force",
                    "HAS_MEETINGS",
                    request.name,
                )
            paths = await stores.meetings.recording_files([project_id])
            await stores.projects.delete(project_id)
        await audio_files.remove(*paths)
        return meetings_pb2.DeleteProjectResponse()

    async def GetProjectStats(
        self, request: meetings_pb2.GetProjectStatsRequest, context: Context
    ) -> meetings_pb2.GetProjectStatsResponse:
        project_id = id_of(request.name, "projects", "name", "/stats")
        at = now()
        async with self._database.transaction() as stores:
            record = await visible_project(stores, project_id)
            held = await stores.meetings.figures([project_id], at)
            asked = await stores.chat.question_counts([project_id])
        stats = convert.project_stats(record, held, asked.get(project_id, 0), at)
        return meetings_pb2.GetProjectStatsResponse(stats=stats)
