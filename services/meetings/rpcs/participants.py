"""Participant RPCs: invite, uninvite, join and leave. Inviting and uninviting change the
meeting (`Access.MANAGE`); anyone who sees it may join and leave its room. The first one in
starts the meeting, the last one out ends it."""

from __future__ import annotations

import dataclasses

from services.meetings.convert import meeting_name, optional_project_name, participant_name
from services.meetings.meetings import access, convert, participants, validation
from services.meetings.meetings.access import Access
from services.meetings.rpcs.base import Context, RpcBase, check, id_of, meeting_for, now
from voka import authn, errors
from voka.errors import FieldViolation
from voka.meetings.v1 import events_pb2, meeting_pb2, meetings_pb2
from voka.wellknown import timestamp


class ParticipantsRpcs(RpcBase):
    async def AddMeetingParticipants(
        self, request: meetings_pb2.AddMeetingParticipantsRequest, context: Context
    ) -> meetings_pb2.AddMeetingParticipantsResponse:
        invited, violations = validation.participants(
            request.participants, "participants", required=True
        )
        check(violations)
        async with self._database.transaction() as stores:
            record = await meeting_for(stores, request.meeting, "meeting", Access.MANAGE, lock=True)
            added, updated = participants.merge(record.id, record.participants, invited)
            await stores.meetings.add_participants(added)
            for person in updated:
                await stores.meetings.save_participant(person)
            changed = await meeting_for(stores, request.meeting, "meeting", Access.VIEW)
        return meetings_pb2.AddMeetingParticipantsResponse(meeting=self._meeting_message(changed))

    async def RemoveMeetingParticipants(
        self, request: meetings_pb2.RemoveMeetingParticipantsRequest, context: Context
    ) -> meetings_pb2.RemoveMeetingParticipantsResponse:
        meeting_id = id_of(request.meeting, "meetings", "meeting")
        ids, violations = validation.participant_names(
            request.participants, meeting_id, "participants"
        )
        check(violations)
        async with self._database.transaction() as stores:
            record = await meeting_for(stores, request.meeting, "meeting", Access.MANAGE, lock=True)
            known = {p.id for p in record.participants}
            check([
                FieldViolation(f"participants[{i}]", "no such participant in this meeting")
                for i, participant_id in enumerate(ids) if participant_id not in known
            ])  # fmt: skip
            await stores.meetings.delete_participants(record.id, ids)
            changed = await meeting_for(stores, request.meeting, "meeting", Access.VIEW)
        return meetings_pb2.RemoveMeetingParticipantsResponse(
            meeting=self._meeting_message(changed)
        )

    async def JoinMeeting(
        self, request: meetings_pb2.JoinMeetingRequest, context: Context
    ) -> meetings_pb2.JoinMeetingResponse:
        """The first one in starts the meeting (again, after it ended or lapsed)."""
        given, violations = validation.display_name(request.display_name, "display_name")
        check(violations)
        at = now()
        async with self._database.transaction() as stores:
            record = await meeting_for(stores, request.name, "name", Access.VIEW, lock=True)
            role = (
                meeting_pb2.PARTICIPANT_ROLE_HOST
                if access.level(record) == Access.MANAGE
                else meeting_pb2.PARTICIPANT_ROLE_ATTENDEE
            )
            me, new = participants.joined(
                record.id, record.participants, user=authn.caller().subject,
                display_name=given["display_name"], role=role, at=at,
            )  # fmt: skip
            if new:
                await stores.meetings.add_participants([me])
            else:
                await stores.meetings.save_participant(me)
            starts = (
                record.state_at(self._ended_before(at)) != meeting_pb2.MEETING_STATE_IN_PROGRESS
            )
            if starts:
                await stores.meetings.save(dataclasses.replace(
                    record, state=meeting_pb2.MEETING_STATE_IN_PROGRESS, update_time=at,
                    actual_start_time=record.actual_start_time or at, actual_end_time=None,
                ))  # fmt: skip
        await self._emit(events_pb2.ParticipantJoinedEvent(
            meeting=meeting_name(record.id), display_name=me.display_name,
            participant=participant_name(record.id, me.id), join_time=timestamp(at),
            owner=record.organizer,
        ))  # fmt: skip
        if starts:
            await self._publish(events_pb2.MeetingStartedEvent(
                meeting=request.name, project=optional_project_name(record.project_id),
                start_time=timestamp(at), owner=record.organizer,
            ))  # fmt: skip
        base = self._settings.meetings_jitsi_base_url
        return meetings_pb2.JoinMeetingResponse(
            room_url=convert.room_url(base, record.room_name),
            room_name=record.room_name,
            jitsi_domain=base,
            participant=convert.participant(me),
        )

    async def LeaveMeeting(
        self, request: meetings_pb2.LeaveMeetingRequest, context: Context
    ) -> meetings_pb2.LeaveMeetingResponse:
        """The last one out ends the meeting."""
        at = now()
        async with self._database.transaction() as stores:
            record = await meeting_for(stores, request.name, "name", Access.VIEW, lock=True)
            inside = participants.in_room(record.participants)
            me = next((p for p in inside if p.user == authn.caller().subject), None)
            if me is None:
                raise errors.failed_precondition(
                    "you are not in the meeting's room", "NOT_JOINED", request.name
                )
            me = dataclasses.replace(
                me, presence=meeting_pb2.PARTICIPANT_PRESENCE_LEFT, leave_time=at
            )
            await stores.meetings.save_participant(me)
            ends = len(inside) == 1
            state = (
                meeting_pb2.MEETING_STATE_ENDED if ends else record.state_at(self._ended_before(at))
            )
            if ends:
                await stores.meetings.save(dataclasses.replace(
                    record, state=state, actual_end_time=at, update_time=at
                ))  # fmt: skip
        await self._emit(events_pb2.ParticipantLeftEvent(
            meeting=meeting_name(record.id), display_name=me.display_name,
            participant=participant_name(record.id, me.id), leave_time=timestamp(at),
            owner=record.organizer,
        ))  # fmt: skip
        if ends:
            await self._publish(events_pb2.MeetingEndedEvent(
                meeting=request.name, project=optional_project_name(record.project_id),
                start_time=timestamp(record.actual_start_time or at), end_time=timestamp(at),
                owner=record.organizer,
            ))  # fmt: skip
        return meetings_pb2.LeaveMeetingResponse(
            participant=convert.participant(me),
            meeting_state=state,  # type: ignore[arg-type]
        )
