"""One project's content as chat and insights read it: the project, its latest meetings, their
summaries and (for chat) their transcripts, loaded in one transaction, and turned into passages
to rank."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from services.meetings.chat.passages import Passage, transcript_windows
from services.meetings.clients.records import ProjectRecord
from services.meetings.database import Stores
from services.meetings.meetings.records import MeetingRecord, SegmentRecord, SummaryRecord
from voka.meetings.v1 import knowledge_pb2

MAX_MEETINGS = 50  # the latest ones; older meetings weigh little in an answer or an insight


@dataclass(frozen=True)
class ProjectContent:
    project: ProjectRecord
    meetings: list[MeetingRecord]  # newest first
    summaries: dict[str, SummaryRecord]
    transcripts: dict[str, list[SegmentRecord]] = field(default_factory=dict)

    def passages(self) -> list[Passage]:
        """The project's description, each meeting's agenda, summary and transcript stretches."""
        project = self.project
        found: list[Passage] = []
        if project.description:
            found.append(Passage(knowledge_pb2.SOURCE_KIND_PROJECT, project.description,
                                 project.title, project.update_time, project.id))  # fmt: skip
        for meeting in self.meetings:
            if meeting.description.strip():
                found.append(_of(meeting, knowledge_pb2.SOURCE_KIND_PROJECT, meeting.description))
            summary = self.summaries.get(meeting.id)
            if summary is not None:
                text = "\n".join(line for line in summary.content.lines() if line)
                found.append(_of(meeting, knowledge_pb2.SOURCE_KIND_SUMMARY, text))
            found += transcript_windows(
                meeting.id, meeting.title, meeting.start_time, project.id,
                self.transcripts.get(meeting.id, []),
            )  # fmt: skip
        return found


def _of(meeting: MeetingRecord, kind: int, text: str) -> Passage:
    """A passage of one of the meeting's own texts (agenda, summary)."""
    return Passage(kind, text, meeting.title, meeting.start_time, meeting.project_id,
                   meeting.id)  # fmt: skip


async def load(
    stores: Stores, project: ProjectRecord, meeting_ids: Sequence[str] = (), *, transcripts: bool
) -> ProjectContent:
    """The project (the caller may see it: checked already) with its latest meetings (only
    `meeting_ids`, when given)."""
    meetings = await stores.meetings.of_project(project.id, meeting_ids, MAX_MEETINGS)
    ids = [m.id for m in meetings]
    said = {m: await stores.recordings.segments(m) for m in ids} if transcripts else {}
    return ProjectContent(project, meetings, await stores.summaries.of_meetings(ids), said)
