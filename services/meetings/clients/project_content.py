"""One project's content as chat and insights read it: the project, its latest meetings, their
summaries and (for chat) their transcripts, loaded in one transaction, and turned into passages
to rank (by words, and for chat by meaning: `by_meaning`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from services.meetings.chat.passages import Passage, transcript_windows
from services.meetings.chat.vectors import Ref
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

    def by_meaning(self, similar: Mapping[Ref, float]) -> dict[Passage, float]:
        """The similarity of the passages nearest a question (`chat.hybrid.nearest`, vectors
        of single segments and texts) carried onto this content's passages: a transcript
        stretch takes its best segment's. Hits outside this content (older meetings) drop."""
        if not similar:
            return {}
        windows: dict[str, list[Passage]] = {}
        whole: dict[Ref, Passage] = {}
        for passage in self.passages():
            if passage.kind == knowledge_pb2.SOURCE_KIND_TRANSCRIPT:
                windows.setdefault(passage.recording_id, []).append(passage)
            elif passage.kind == knowledge_pb2.SOURCE_KIND_SUMMARY:
                whole["summary", passage.meeting_id] = passage
            elif passage.meeting_id:
                whole["meeting", passage.meeting_id] = passage
            else:
                whole["project", passage.project_id or ""] = passage
        starts = {f"{s.recording_id}/{s.position}": s.start_ms
                  for said in self.transcripts.values() for s in said}  # fmt: skip
        near: dict[Passage, float] = {}
        for (source, ref), value in similar.items():
            found = whole.get((source, ref))
            if source == "segment" and ref in starts:
                at = starts[ref]
                stretches = windows.get(ref.split("/")[0], [])
                found = next((w for w in stretches if (w.start_ms or 0) <= at <= (w.end_ms or 0)),
                             None)  # fmt: skip
            if found is not None and value > near.get(found, -1.0):
                near[found] = value
        return near


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
