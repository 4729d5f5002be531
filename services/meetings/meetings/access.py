"""Who may do what with a meeting: the kit's tenancy (`voka.tenancy`) widened by the
contract's rule for meetings.

A meeting is no single user's record: its organizer and its project's owner see and manage it
(each as if they owned it, and so do admins, as `tenancy.may_see` says), a HOST participant
manages it too, and any other participant sees it. To anyone else it does not exist: NOT_FOUND,
like a missing one; one who sees it but may not change it gets PERMISSION_DENIED.
"""

from __future__ import annotations

import enum

from services.meetings.convert import meeting_name
from services.meetings.meetings.records import MeetingRecord
from voka import authn, errors, tenancy
from voka.meetings.v1 import meeting_pb2

MEETING = "meetings.voka.dev/Meeting"


class Access(enum.IntEnum):
    """What the caller may do with a meeting: nothing (it is NOT_FOUND to them), read it and
    join it (participants), or change it (organizer, project owner, hosts, admins)."""

    NONE = 0
    VIEW = 1
    MANAGE = 2


def level(record: MeetingRecord) -> Access:
    """The current caller's access to the meeting."""
    owners = [o for o in (record.organizer, record.project_owner) if o is not None]
    if any(tenancy.may_see(owner) for owner in owners):
        return Access.MANAGE
    subject = authn.caller().subject
    mine = [p for p in record.participants if p.user == subject]
    if any(p.role == meeting_pb2.PARTICIPANT_ROLE_HOST for p in mine):
        return Access.MANAGE
    return Access.VIEW if mine else Access.NONE


def require(record: MeetingRecord | None, meeting_id: str, need: Access) -> MeetingRecord:
    """The meeting, if the caller has `need` access to it."""
    have = Access.NONE if record is None else level(record)
    if record is None or have == Access.NONE:
        raise errors.not_found(MEETING, meeting_name(meeting_id))
    if have < need:
        raise errors.permission_denied("only the organizer, the project's owner or a host may")
    return record


def seen_by() -> str | None:
    """Whose meetings a list shows the caller: everyone's for admins (None), else those the
    caller takes part in (`meetings.store.visible_to`)."""
    return tenancy.list_owner(tenancy.EVERYONE)
