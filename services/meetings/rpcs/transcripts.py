"""GetTranscript: a meeting's recordings as transcribed so far, for whoever sees the meeting."""

from __future__ import annotations

from services.meetings.convert import meeting_name
from services.meetings.meetings import convert
from services.meetings.meetings.access import Access
from services.meetings.rpcs.base import Context, RpcBase, id_of, meeting_for
from voka import errors
from voka.meetings.v1 import meetings_pb2

TRANSCRIPT = "meetings.voka.dev/Transcript"


class TranscriptsRpcs(RpcBase):
    async def GetTranscript(
        self, request: meetings_pb2.GetTranscriptRequest, context: Context
    ) -> meetings_pb2.GetTranscriptResponse:
        """NOT_FOUND before the meeting's first recording."""
        meeting_id = id_of(request.name, "meetings", "name", suffix="/transcript")
        async with self._database.transaction() as stores:
            meeting = await meeting_for(stores, meeting_name(meeting_id), "name", Access.VIEW)
            found = await stores.recordings.of_meeting(meeting_id)
            parts = await stores.recordings.segments(meeting_id)
        if not found:
            raise errors.not_found(TRANSCRIPT, request.name)
        transcript = convert.transcript(meeting_id, meeting.transcript_state, found, parts)
        return meetings_pb2.GetTranscriptResponse(transcript=transcript)
