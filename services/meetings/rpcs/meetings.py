"""Meeting RPCs: schedule, read, list, change and delete. Who may do what is `meetings.access`
(organizer, project owner, hosts and admins change a meeting; participants see it; anyone else
gets NOT_FOUND); a list shows every meeting the caller may see."""

from __future__ import annotations

import dataclasses
import secrets

from services.meetings.database import Stores
from services.meetings.meetings import access, audio_files, participants, validation
from services.meetings.meetings.access import Access
from services.meetings.meetings.records import MeetingRecord
from services.meetings.meetings.store import MEETING_ORDERS
from services.meetings.meetings.validation import (
    DEFAULT_LENGTH,
    MEETING_FIELDS,
    MEETING_OUTPUT_ONLY,
)
from services.meetings.rpcs.base import (
    Context,
    RpcBase,
    check,
    meeting_for,
    now,
    requested_page,
)
from services.meetings.schema import new_id
from services.meetings.validation import update_paths
from voka import authn, errors, tenancy
from voka.errors import FieldViolation
from voka.meetings.v1 import events_pb2, meeting_pb2, meetings_pb2
from voka.pagination import next_token


async def _project_violations(
    stores: Stores, project_id: str | None, path: str
) -> list[FieldViolation]:
    """A meeting may only be put in a project the caller may see (`voka.tenancy`: their own,
    any for admins); someone else's project is reported like a missing one."""
    if project_id is None:
        return []
    owner = await stores.projects.owner_of(project_id)
    if owner is not None and tenancy.may_see(owner):
        return []
    return [FieldViolation(path, "no such project")]


def _room_name() -> str:
    """128 random bits: a Jitsi room cannot be found by guessing its name."""
    return f"voka-{secrets.token_hex(16)}"


def _scheduled(message: meeting_pb2.Meeting) -> events_pb2.MeetingScheduledEvent:
    return events_pb2.MeetingScheduledEvent(
        meeting=message.name, project=message.project, title=message.title,
        start_time=message.start_time, end_time=message.end_time, room_url=message.room_url,
        participant_emails=[p.email for p in message.participants if p.email],
        owner=message.organizer,
    )  # fmt: skip


class MeetingsRpcs(RpcBase):
    async def CreateMeeting(
        self, request: meetings_pb2.CreateMeetingRequest, context: Context
    ) -> meetings_pb2.CreateMeetingResponse:
        values, violations = validation.meeting_values(request.meeting, MEETING_FIELDS, "meeting")
        invited, bad_people = validation.participants(
            request.meeting.participants, "meeting.participants", required=False
        )
        violations += bad_people
        if values.get("start_time") and values.get("end_time"):
            violations += validation.time_order(
                values["start_time"], values["end_time"], "meeting.end_time"
            )
        at = now()
        async with self._database.transaction() as stores:
            violations += await _project_violations(
                stores, values.get("project_id"), "meeting.project"
            )
            check(violations)
            meeting_id = new_id()
            end_time = values["end_time"] or values["start_time"] + DEFAULT_LENGTH
            added, _ = participants.merge(meeting_id, (), invited)
            record = MeetingRecord(
                id=meeting_id, organizer=authn.caller().subject,
                state=meeting_pb2.MEETING_STATE_SCHEDULED, room_name=_room_name(),
                actual_start_time=None, actual_end_time=None, create_time=at, update_time=at,
                participants=tuple(added), **values | {"end_time": end_time},
            )  # fmt: skip
            await stores.meetings.add(record)
            created = await meeting_for(stores, f"meetings/{meeting_id}", "name", Access.VIEW)
        message = self._meeting_message(created)
        await self._publish(_scheduled(message))
        return meetings_pb2.CreateMeetingResponse(meeting=message)

    async def GetMeeting(
        self, request: meetings_pb2.GetMeetingRequest, context: Context
    ) -> meetings_pb2.GetMeetingResponse:
        async with self._database.transaction() as stores:
            record = await meeting_for(stores, request.name, "name", Access.VIEW)
        return meetings_pb2.GetMeetingResponse(meeting=self._meeting_message(record))

    async def ListMeetings(
        self, request: meetings_pb2.ListMeetingsRequest, context: Context
    ) -> meetings_pb2.ListMeetingsResponse:
        query, bad_query = validation.meeting_query(request)
        order, page = requested_page(request, query, bad_query, MEETING_ORDERS)
        async with self._database.transaction() as stores:
            listing = await stores.meetings.listing(
                access.seen_by(), query, page, self._ended_before(now())
            )
        return meetings_pb2.ListMeetingsResponse(
            meetings=[self._meeting_message(r) for r in listing.items],
            next_page_token=next_token(order, query.fingerprint(), listing),
            total_size=listing.total,
        )

    async def UpdateMeeting(
        self, request: meetings_pb2.UpdateMeetingRequest, context: Context
    ) -> meetings_pb2.UpdateMeetingResponse:
        """Fields are checked alone first; the project and the time order against the stored
        meeting, since either may come from it."""
        name = request.meeting.name
        paths, violations = update_paths(request.update_mask, MEETING_FIELDS, MEETING_OUTPUT_ONLY)
        values, bad_values = validation.meeting_values(request.meeting, paths, "meeting")
        check(violations + bad_values + validation.meeting_name_violations(name, "meeting.name"))
        async with self._database.transaction() as stores:
            stored = await meeting_for(stores, name, "meeting.name", Access.MANAGE, lock=True)
            if values.get("end_time") is None:
                values.pop("end_time", None)  # unset: kept
            record = dataclasses.replace(stored, **values, update_time=now())
            violations = validation.time_order(
                record.start_time, record.end_time, "meeting.end_time"
            )
            if "project_id" in values and values["project_id"] != stored.project_id:
                violations += await _project_violations(
                    stores, values["project_id"], "meeting.project"
                )
            check(violations)
            await stores.meetings.save(record)
            updated = await meeting_for(stores, name, "name", Access.VIEW)
        return meetings_pb2.UpdateMeetingResponse(meeting=self._meeting_message(updated))

    async def DeleteMeeting(
        self, request: meetings_pb2.DeleteMeetingRequest, context: Context
    ) -> meetings_pb2.DeleteMeetingResponse:
        """Without `force`, a meeting with recordings stays (FAILED_PRECONDITION)."""
        async with self._database.transaction() as stores:
            record = await meeting_for(stores, request.name, "name", Access.MANAGE, lock=True)
            if record.recording_states and not request.force:
                raise errors.failed_precondition(
                    f"meeting has {len(record.recording_states)} recording(s); delete them "
                    "first or set force",
                    "HAS_RECORDINGS",
                    request.name,
                )
            paths = await stores.meetings.delete(record.id)
        await audio_files.remove(*paths)
        return meetings_pb2.DeleteMeetingResponse()
