"""Summary RPCs: reading a meeting's summary needs seeing the meeting; regenerating it changes
the meeting (`Access.MANAGE`) and hands a new revision to the recording pipeline: the request
event commits with the RUNNING revision (the kit's outbox), so the revision is never left
RUNNING without one, whether NATS is up or not."""

from __future__ import annotations

from services.meetings.convert import meeting_name
from services.meetings.meetings import convert, validation
from services.meetings.meetings.access import Access
from services.meetings.meetings.pipeline import summary_event_id, summary_request
from services.meetings.rpcs.base import Context, RpcBase, check, id_of, meeting_for, now
from voka import authn, errors
from voka.meetings.v1 import events_pb2, meeting_pb2, meetings_pb2

SUMMARY = "meetings.voka.dev/Summary"


class SummariesRpcs(RpcBase):
    async def GetSummary(
        self, request: meetings_pb2.GetSummaryRequest, context: Context
    ) -> meetings_pb2.GetSummaryResponse:
        """NOT_FOUND before the meeting's first recording asked for one."""
        meeting_id = id_of(request.name, "meetings", "name", suffix="/summary")
        async with self._database.transaction() as stores:
            await meeting_for(stores, meeting_name(meeting_id), "name", Access.VIEW)
            record = await stores.summaries.get(meeting_id)
        if record is None:
            raise errors.not_found(SUMMARY, request.name)
        return meetings_pb2.GetSummaryResponse(summary=convert.summary(record, now().date()))

    async def RegenerateSummary(
        self, request: meetings_pb2.RegenerateSummaryRequest, context: Context
    ) -> meetings_pb2.RegenerateSummaryResponse:
        check(validation.regenerate_violations(request))
        async with self._database.transaction() as stores:
            meeting = await meeting_for(stores, request.name, "name", Access.MANAGE, lock=True)
            if meeting.transcript_state != meeting_pb2.PROCESSING_STATE_COMPLETED:
                raise errors.failed_precondition(
                    "the transcript is not COMPLETED", "TRANSCRIPT_NOT_COMPLETED", request.name
                )
            record, event = summary_request(
                meeting.id, await stores.summaries.get(meeting.id, lock=True),
                trigger=events_pb2.SUMMARY_TRIGGER_REGENERATE,
                requested_by=authn.caller().subject, instructions=request.instructions,
                language=request.language,
            )  # fmt: skip
            await stores.summaries.put(record)
            await stores.events.add(event, summary_event_id(event))
        return meetings_pb2.RegenerateSummaryResponse(summary=convert.summary(record, now().date()))
