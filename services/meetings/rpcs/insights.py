"""GetProjectInsights: for who may see the project (anyone else gets NOT_FOUND, as for a
missing project); computed from its data when read (`clients.insights`), so `refresh` changes
nothing."""

from __future__ import annotations

from services.meetings.clients import insights, project_content
from services.meetings.rpcs.base import Context, RpcBase, id_of, now, visible_project
from voka.meetings.v1 import meetings_pb2


class InsightsRpcs(RpcBase):
    async def GetProjectInsights(
        self, request: meetings_pb2.GetProjectInsightsRequest, context: Context
    ) -> meetings_pb2.GetProjectInsightsResponse:
        project_id = id_of(request.name, "projects", "name", "/insights")
        async with self._database.transaction() as stores:
            project = await visible_project(stores, project_id)
            content = await project_content.load(stores, project, transcripts=False)
        return meetings_pb2.GetProjectInsightsResponse(insights=insights.insights(content, now()))
