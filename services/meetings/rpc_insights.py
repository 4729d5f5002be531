"""GetProjectInsights, mixed into the servicer: the project's owner only (anyone else gets
NOT_FOUND, as for a missing project); computed from its data when read (`insights`), so
`refresh` changes nothing."""

from __future__ import annotations

from services.meetings import insights, project_content
from services.meetings.deps import Deps
from services.meetings.rpc_common import Context, now, owner, resource_id
from voka import errors
from voka.meetings.v1 import meetings_pb2

PROJECT = "meetings.voka.dev/Project"


class InsightRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

    async def GetProjectInsights(
        self, request: meetings_pb2.GetProjectInsightsRequest, context: Context
    ) -> meetings_pb2.GetProjectInsightsResponse:
        project_id = resource_id(request.name, "projects", "name", "/insights")
        async with self._deps.store.tenant(owner()) as tenant:
            content = await project_content.load(tenant, project_id, transcripts=False)
        if content is None:
            raise errors.not_found(PROJECT, f"projects/{project_id}")
        return meetings_pb2.GetProjectInsightsResponse(insights=insights.insights(content, now()))
