"""Meetings: the caller's meetings and projects, listed across pages."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from voka.meetings.v1 import meeting_pb2, meetings_pb2, meetings_pb2_grpc, project_pb2
from voka_client.pagination import PAGE_SIZE, iter_pages


class Meetings:
    """`voka.meetings.v1.MeetingsService`, through the client's channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = meetings_pb2_grpc.MeetingsServiceStub(channel)

    def iter_meetings(
        self, *, project: str = "", client: str = "", newest_first: bool = False
    ) -> Iterator[meeting_pb2.Meeting]:
        """The meetings the caller organises or attends, of one project or client or all, by
        start time."""

        def page(token: str) -> tuple[list[meeting_pb2.Meeting], str]:
            request = meetings_pb2.ListMeetingsRequest(
                page_size=PAGE_SIZE,
                page_token=token,
                project=project,
                client=client,
                order_by="start_time desc" if newest_first else "start_time",
            )
            reply = self.stub.ListMeetings(request)
            return list(reply.meetings), reply.next_page_token

        return iter_pages(page)

    def iter_projects(self, *, client: str = "") -> Iterator[project_pb2.Project]:
        """The caller's projects, of one client or all."""

        def page(token: str) -> tuple[list[project_pb2.Project], str]:
            request = meetings_pb2.ListProjectsRequest(
                page_size=PAGE_SIZE, page_token=token, client=client
            )
            reply = self.stub.ListProjects(request)
            return list(reply.projects), reply.next_page_token

        return iter_pages(page)
