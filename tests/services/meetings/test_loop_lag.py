"""No meetings RPC holds the event loop longer than 50 ms (issue 16, item 3): clients and
projects (written, listed, their figures), meetings (written, listed), search and the kit's
RPCs. On SQLite only: the loop's behaviour does not depend on the database's driver."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.tokens import TokenFactory
from tests.services.loop_lag import Phase, assert_loop_free
from tests.services.meetings.conftest import User, new_client, new_project
from voka.config import Settings
from voka.meetings.v1 import meeting_pb2, meetings_pb2
from voka.server import Running


@pytest.fixture
def settings(tokens: TokenFactory, tmp_path: Path, sqlite_url: str) -> Settings:
    """On SQLite, the per-user rate limit lifted (the phases call as one user)."""
    return Settings(service="meetings", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file,
                    database_url=sqlite_url, rate_limit_per_second=0)  # fmt: skip


async def test_no_meetings_rpc_holds_the_event_loop(
    service: Running, alice: User, tokens: TokenFactory
) -> None:
    client = await new_client(alice)
    project = await new_project(alice, client=client.name)
    numbers = itertools.count()

    def new_meeting() -> Any:
        meeting = meeting_pb2.Meeting(title=f"Weekly {next(numbers)}", project=project.name)
        meeting.start_time.FromDatetime(datetime(2030, 1, 15, 10, tzinfo=UTC))
        return alice.CreateMeeting(meetings_pb2.CreateMeetingRequest(meeting=meeting))

    phases = [
        Phase("CreateClient", lambda: new_client(alice, display_name=f"Acme {next(numbers)}")),
        Phase("ListClients", lambda: alice.ListClients(meetings_pb2.ListClientsRequest())),
        Phase("GetClientStats", lambda: alice.GetClientStats(
            meetings_pb2.GetClientStatsRequest(name=f"{client.name}/stats"))),
        Phase("CreateProject", lambda: new_project(alice, title=f"Site {next(numbers)}")),
        Phase("ListProjects", lambda: alice.ListProjects(meetings_pb2.ListProjectsRequest())),
        Phase("GetProjectStats", lambda: alice.GetProjectStats(
            meetings_pb2.GetProjectStatsRequest(name=f"{project.name}/stats"))),
        Phase("CreateMeeting", new_meeting),
        Phase("ListMeetings", lambda: alice.ListMeetings(meetings_pb2.ListMeetingsRequest())),
        Phase("Search", lambda: alice.Search(meetings_pb2.SearchRequest(query="weekly"))),
    ]  # fmt: skip
    admin = tokens.metadata(subject="users/loop-lag-admin", roles=("admin",))
    await assert_loop_free("meetings", service.port, admin, phases)
