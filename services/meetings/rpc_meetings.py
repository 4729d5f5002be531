"""Meeting RPCs, mixed into the servicer: schedule, read, list, change, delete, invite,
uninvite, join and leave.

Tenancy: a meeting is loaded with what decides access (organizer, project owner,
participants) and `MeetingRecord.access` says what the caller may do. One who may not see it
gets NOT_FOUND, exactly like for a missing one; a participant who may see it but not change
it gets PERMISSION_DENIED.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from services.meetings import (
    audio_files,
    meeting_convert,
    meeting_validation,
    participants,
    validation,
)
from services.meetings.deps import Deps
from services.meetings.meeting_records import Access, MeetingRecord, Viewer
from services.meetings.meeting_store import MEETING_ORDERS, MeetingRepo
from services.meetings.meeting_validation import (
    DEFAULT_LENGTH,
    MEETING_FIELDS,
    MEETING_OUTPUT_ONLY,
)
from services.meetings.rpc_common import (
    Context,
    check,
    new_id,
    now,
    requested_page,
    resource_id,
    viewer,
)
from services.meetings.validation import update_paths
from voka import errors
from voka.errors import FieldViolation
from voka.meetings.v1 import events_pb2, meeting_pb2, meetings_pb2
from voka.pagination import next_token
from voka.wellknown import timestamp

M = meeting_pb2
MEETING = "meetings.voka.dev/Meeting"


async def load_meeting(
    repo: MeetingRepo, name: str, path: str, need: Access, *, lock: bool = False
) -> MeetingRecord:
    """The meeting named `name` if the caller has `need` access to it."""
    meeting_id = resource_id(name, "meetings", path)
    record = await repo.meeting(meeting_id, lock=lock)
    access = Access.NONE if record is None else record.access(viewer())
    if record is None or access == Access.NONE:
        raise errors.not_found(MEETING, meeting_convert.meeting_name(meeting_id))
    if access < need:
        raise errors.permission_denied("only the organizer, the project's owner or a host may")
    return record


async def project_violations(
    repo: MeetingRepo, who: Viewer, project_id: str | None, path: str
) -> list[FieldViolation]:
    """A meeting may only be put in a project of the caller's own (any, for admins); someone
    else's project is reported like a missing one."""
    if project_id is None:
        return []
    owner = await repo.project_owner(project_id)
    if owner is not None and (who.is_admin or owner == who.subject):
        return []
    return [FieldViolation(path, "no such project")]


def room_name() -> str:
    """128 random bits: a Jitsi room cannot be found by guessing its name."""
    return f"voka-{secrets.token_hex(16)}"


class MeetingRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

    def _meeting(self, record: MeetingRecord) -> meeting_pb2.Meeting:
        base = self._deps.settings.meetings_jitsi_base_url
        return meeting_convert.meeting(record, base, self._deps.ended_before(now()))

    async def CreateMeeting(
        self, request: meetings_pb2.CreateMeetingRequest, context: Context
    ) -> meetings_pb2.CreateMeetingResponse:
        values, violations = meeting_validation.meeting_values(
            request.meeting, MEETING_FIELDS, "meeting"
        )
        invited, bad_people = meeting_validation.participants(
            request.meeting.participants, "meeting.participants", required=False
        )
        violations += bad_people
        if values.get("start_time") and values.get("end_time"):
            violations += meeting_validation.time_order(
                values["start_time"], values["end_time"], "meeting.end_time"
            )
        who, at = viewer(), now()
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            violations += await project_violations(
                repo, who, values.get("project_id"), "meeting.project"
            )
            check(violations)
            meeting_id = new_id()
            end_time = values["end_time"] or values["start_time"] + DEFAULT_LENGTH
            added, _ = participants.merge(meeting_id, (), invited)
            record = MeetingRecord(
                id=meeting_id, organizer=who.subject, state=M.MEETING_STATE_SCHEDULED,
                room_name=room_name(), actual_start_time=None, actual_end_time=None,
                create_time=at, update_time=at, participants=tuple(added),
                **values | {"end_time": end_time},
            )  # fmt: skip
            await repo.add_meeting(record)
            created = await load_meeting(repo, f"meetings/{meeting_id}", "name", Access.VIEW)
        message = self._meeting(created)
        await self._deps.publish(_scheduled(message))
        return meetings_pb2.CreateMeetingResponse(meeting=message)

    async def GetMeeting(
        self, request: meetings_pb2.GetMeetingRequest, context: Context
    ) -> meetings_pb2.GetMeetingResponse:
        async with self._deps.store.session() as session:
            record = await load_meeting(MeetingRepo(session), request.name, "name", Access.VIEW)
        return meetings_pb2.GetMeetingResponse(meeting=self._meeting(record))

    async def ListMeetings(
        self, request: meetings_pb2.ListMeetingsRequest, context: Context
    ) -> meetings_pb2.ListMeetingsResponse:
        query, bad_query = meeting_validation.meeting_query(request)
        order, page = requested_page(request, query, bad_query, MEETING_ORDERS)
        async with self._deps.store.session() as session:
            listing = await MeetingRepo(session).list_meetings(
                viewer(), query, page, self._deps.ended_before(now())
            )
        return meetings_pb2.ListMeetingsResponse(
            meetings=[self._meeting(r) for r in listing.items],
            next_page_token=next_token(order, query.fingerprint(), listing),
            total_size=listing.total,
        )

    async def UpdateMeeting(
        self, request: meetings_pb2.UpdateMeetingRequest, context: Context
    ) -> meetings_pb2.UpdateMeetingResponse:
        """Fields are checked alone first; the project and the time order against the stored
        meeting, since either may come from it."""
        paths, violations = update_paths(request.update_mask, MEETING_FIELDS, MEETING_OUTPUT_ONLY)
        values, bad_values = meeting_validation.meeting_values(request.meeting, paths, "meeting")
        check(violations + bad_values + _name_violations(request.meeting.name))
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            stored = await load_meeting(
                repo, request.meeting.name, "meeting.name", Access.MANAGE, lock=True
            )
            if values.get("end_time") is None:
                values.pop("end_time", None)  # unset: kept
            record = dataclasses.replace(stored, **values, update_time=now())
            violations = meeting_validation.time_order(
                record.start_time, record.end_time, "meeting.end_time"
            )
            if "project_id" in values and values["project_id"] != stored.project_id:
                violations += await project_violations(
                    repo, viewer(), values["project_id"], "meeting.project"
                )
            check(violations)
            await repo.save_meeting(record)
            updated = await load_meeting(repo, request.meeting.name, "name", Access.VIEW)
        return meetings_pb2.UpdateMeetingResponse(meeting=self._meeting(updated))

    async def DeleteMeeting(
        self, request: meetings_pb2.DeleteMeetingRequest, context: Context
    ) -> meetings_pb2.DeleteMeetingResponse:
        """Without `force`, a meeting with recordings stays (FAILED_PRECONDITION)."""
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            record = await load_meeting(repo, request.name, "name", Access.MANAGE, lock=True)
            if record.recording_states and not request.force:
                raise errors.failed_precondition(
                    f"meeting has {len(record.recording_states)} recording(s); delete them "
                    "first or set force",
                    "HAS_RECORDINGS",
                    request.name,
                )
            paths = await repo.delete_meeting(record.id)
        await audio_files.remove(*paths)
        return meetings_pb2.DeleteMeetingResponse()

    async def AddMeetingParticipants(
        self, request: meetings_pb2.AddMeetingParticipantsRequest, context: Context
    ) -> meetings_pb2.AddMeetingParticipantsResponse:
        invited, violations = meeting_validation.participants(
            request.participants, "participants", required=True
        )
        check(violations)
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            record = await load_meeting(repo, request.meeting, "meeting", Access.MANAGE, lock=True)
            added, updated = participants.merge(record.id, record.participants, invited)
            await repo.add_participants(added)
            for person in updated:
                await repo.save_participant(person)
            changed = await load_meeting(repo, request.meeting, "meeting", Access.VIEW)
        return meetings_pb2.AddMeetingParticipantsResponse(meeting=self._meeting(changed))

    async def RemoveMeetingParticipants(
        self, request: meetings_pb2.RemoveMeetingParticipantsRequest, context: Context
    ) -> meetings_pb2.RemoveMeetingParticipantsResponse:
        meeting_id = resource_id(request.meeting, "meetings", "meeting")
        ids, violations = meeting_validation.participant_names(
            request.participants, meeting_id, "participants"
        )
        check(violations)
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            record = await load_meeting(repo, request.meeting, "meeting", Access.MANAGE, lock=True)
            known = {p.id for p in record.participants}
            check([
                FieldViolation(f"participants[{i}]", "no such participant in this meeting")
                for i, participant_id in enumerate(ids) if participant_id not in known
            ])  # fmt: skip
            await repo.delete_participants(record.id, ids)
            changed = await load_meeting(repo, request.meeting, "meeting", Access.VIEW)
        return meetings_pb2.RemoveMeetingParticipantsResponse(meeting=self._meeting(changed))

    async def JoinMeeting(
        self, request: meetings_pb2.JoinMeetingRequest, context: Context
    ) -> meetings_pb2.JoinMeetingResponse:
        """The first one in starts the meeting (again, after it ended or lapsed)."""
        display_name, violations = validation.text(
            "display_name", request.display_name, "display_name",
            limit=meeting_validation.MAX_DISPLAY_NAME,
        )  # fmt: skip
        check(violations)
        who, at = viewer(), now()
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            record = await load_meeting(repo, request.name, "name", Access.VIEW, lock=True)
            role = (
                M.PARTICIPANT_ROLE_HOST
                if record.access(who) == Access.MANAGE
                else (M.PARTICIPANT_ROLE_ATTENDEE)
            )
            me, new = participants.joined(
                record.id, record.participants, user=who.subject,
                display_name=display_name["display_name"], role=role, at=at,
            )  # fmt: skip
            await (repo.add_participants([me]) if new else repo.save_participant(me))
            starts = record.state_at(self._deps.ended_before(at)) != M.MEETING_STATE_IN_PROGRESS
            if starts:
                await repo.save_meeting(dataclasses.replace(
                    record, state=M.MEETING_STATE_IN_PROGRESS, update_time=at,
                    actual_start_time=record.actual_start_time or at, actual_end_time=None,
                ))  # fmt: skip
        await self._deps.emit(events_pb2.ParticipantJoinedEvent(
            meeting=meeting_convert.meeting_name(record.id), display_name=me.display_name,
            participant=meeting_convert.participant_name(record.id, me.id),
            join_time=timestamp(at), owner=record.organizer,
        ))  # fmt: skip
        if starts:
            await self._deps.publish(events_pb2.MeetingStartedEvent(
                meeting=request.name, project=_project(record), start_time=timestamp(at),
                owner=record.organizer,
            ))  # fmt: skip
        base = self._deps.settings.meetings_jitsi_base_url
        return meetings_pb2.JoinMeetingResponse(
            room_url=meeting_convert.room_url(base, record.room_name),
            room_name=record.room_name,
            jitsi_domain=base,
            participant=meeting_convert.participant(me),
        )

    async def LeaveMeeting(
        self, request: meetings_pb2.LeaveMeetingRequest, context: Context
    ) -> meetings_pb2.LeaveMeetingResponse:
        """The last one out ends the meeting."""
        who, at = viewer(), now()
        async with self._deps.store.session() as session:
            repo = MeetingRepo(session)
            record = await load_meeting(repo, request.name, "name", Access.VIEW, lock=True)
            inside = participants.in_room(record.participants)
            me = next((p for p in inside if p.user == who.subject), None)
            if me is None:
                raise errors.failed_precondition(
                    "you are not in the meeting's room", "NOT_JOINED", request.name
                )
            me = dataclasses.replace(me, presence=M.PARTICIPANT_PRESENCE_LEFT, leave_time=at)
            await repo.save_participant(me)
            ends = len(inside) == 1
            state = M.MEETING_STATE_ENDED if ends else record.state_at(self._deps.ended_before(at))
            if ends:
                await repo.save_meeting(dataclasses.replace(
                    record, state=state, actual_end_time=at, update_time=at
                ))  # fmt: skip
        await self._deps.emit(events_pb2.ParticipantLeftEvent(
            meeting=meeting_convert.meeting_name(record.id), display_name=me.display_name,
            participant=meeting_convert.participant_name(record.id, me.id),
            leave_time=timestamp(at), owner=record.organizer,
        ))  # fmt: skip
        if ends:
            await self._deps.publish(events_pb2.MeetingEndedEvent(
                meeting=request.name, project=_project(record),
                start_time=timestamp(record.actual_start_time or at), end_time=timestamp(at),
                owner=record.organizer,
            ))  # fmt: skip
        return meetings_pb2.LeaveMeetingResponse(
            participant=meeting_convert.participant(me),
            meeting_state=state,  # type: ignore[arg-type]
        )


def _name_violations(name: str) -> list[FieldViolation]:
    return validation.resource_id(name, "meetings", "meeting.name")[1]


def _project(record: MeetingRecord) -> str:
    return f"projects/{record.project_id}" if record.project_id else ""


def _scheduled(message: meeting_pb2.Meeting) -> Any:
    return events_pb2.MeetingScheduledEvent(
        meeting=message.name, project=message.project, title=message.title,
        start_time=message.start_time, end_time=message.end_time, room_url=message.room_url,
        participant_emails=[p.email for p in message.participants if p.email],
        owner=message.organizer,
    )  # fmt: skip
