"""GetProjectInsights on SQLite and PostgreSQL: figures and rule-based insights computed from
the project and its meetings' summaries, open commitments latest meeting first with `overdue`,
owner-only, the name checked."""

from __future__ import annotations

from datetime import UTC, datetime

import grpc

from services.meetings.meetings.records import Commitment, SummaryContent
from tests.services.meetings.conftest import User, bad_fields, failure, new_project, seed_meeting
from voka.meetings.v1 import knowledge_pb2, meetings_pb2, project_pb2
from voka.server import Running

m, K, P = meetings_pb2, knowledge_pb2, project_pb2


async def insights(user: User, project: str) -> knowledge_pb2.ProjectInsights:
    reply = await user.GetProjectInsights(m.GetProjectInsightsRequest(name=f"{project}/insights"))
    return reply.insights


async def test_insights_come_from_the_project_and_its_summaries(alice: User, service: Running):
    project = await new_project(
        alice, status=P.PROJECT_STATUS_ACTIVE, progress_percent=40, due_date="2020-06-30",
        estimated_hours="10", spent_hours="12",
    )  # fmt: skip
    older = await seed_meeting(alice, service, project.name, "Kick-off",
                               start=datetime(2021, 3, 1, 9, tzinfo=UTC))  # fmt: skip
    late = SummaryContent(text="Design review.", decisions=("Use the blue theme",),
                          commitments=(Commitment("ship the mock-ups", "Bo", "2021-04-01"),
                                       Commitment("write the copy", "Cy", "")),
                          next_steps=("Test on phones",))  # fmt: skip
    latest = await seed_meeting(alice, service, project.name, "Design", summary=late,
                                start=datetime(2021, 3, 20, 9, tzinfo=UTC))  # fmt: skip
    found = await insights(alice, project.name)
    assert found.name == f"{project.name}/insights"
    assert found.meeting_count == 2
    assert not found.stale
    assert found.HasField("generate_time")
    assert [(c.description, c.meeting, c.overdue) for c in found.open_commitments] == [
        ("ship the mock-ups", latest, True),
        ("write the copy", latest, False),
        ("send the budget", older, False),  # due 2030-01-20
    ]
    kinds = [(i.kind, i.severity, i.title) for i in found.insights]
    severities = [severity for _, severity, _ in kinds]
    assert severities == sorted(severities, reverse=True)
    titles = {title for _, _, title in kinds}
    assert {"Past its due date", "Hours near or over budget", "No recent meetings"} <= titles
    assert "1 overdue commitment(s)" in titles
    assert {"Use the blue theme", "Launch in March", "Test on phones"} <= titles
    decision = next(i for i in found.insights if i.title == "Use the blue theme")
    assert decision.kind == K.INSIGHT_KIND_DECISION
    assert decision.sources[0].meeting == latest
    assert decision.sources[0].kind == K.SOURCE_KIND_SUMMARY
    assert "2 meeting(s), 2 summarised" in found.overview


async def test_a_quiet_new_project_has_few_insights(alice: User, service: Running):
    project = await new_project(alice)
    found = await insights(alice, project.name)
    assert found.meeting_count == 0
    assert list(found.insights) == []
    assert list(found.open_commitments) == []
    refreshed = await alice.GetProjectInsights(
        m.GetProjectInsightsRequest(name=f"{project.name}/insights", refresh=True)
    )
    assert refreshed.insights.overview == found.overview


async def test_insights_are_the_owners_only(alice: User, bob: User, service: Running):
    project = await new_project(alice)
    request = m.GetProjectInsightsRequest(name=f"{project.name}/insights")
    await failure(bob.GetProjectInsights(request), grpc.StatusCode.NOT_FOUND)
    bad = m.GetProjectInsightsRequest(name=project.name)
    assert await bad_fields(alice.GetProjectInsights(bad)) == {"name"}
