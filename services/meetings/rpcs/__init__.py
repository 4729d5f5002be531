"""MeetingsService: the RPCs, one module per resource, joined in one servicer.

Tenancy: clients and projects are their owner's (`voka.tenancy`); a meeting is its
organizer's, its project's owner's and its participants' (`meetings.access`); admins see every
one. Anything else is NOT_FOUND, exactly like a missing resource.
"""

from __future__ import annotations

from services.meetings.rpcs.chat import ChatRpcs
from services.meetings.rpcs.clients import ClientsRpcs
from services.meetings.rpcs.insights import InsightsRpcs
from services.meetings.rpcs.meetings import MeetingsRpcs
from services.meetings.rpcs.participants import ParticipantsRpcs
from services.meetings.rpcs.projects import ProjectsRpcs
from services.meetings.rpcs.recordings import RecordingsRpcs
from services.meetings.rpcs.search import SearchRpcs
from services.meetings.rpcs.summaries import SummariesRpcs
from services.meetings.rpcs.transcripts import TranscriptsRpcs


class MeetingsServicer(
    ClientsRpcs,
    ProjectsRpcs,
    MeetingsRpcs,
    ParticipantsRpcs,
    RecordingsRpcs,
    TranscriptsRpcs,
    SummariesRpcs,
    ChatRpcs,
    InsightsRpcs,
    SearchRpcs,
):
    """The meetings service's RPCs."""
