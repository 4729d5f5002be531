"""MeetingsService: the RPCs, grouped by concern in the mixins it is made of.

Tenancy: clients and projects are their owner's; a meeting is its organizer's, its project's
owner's and its participants'; admins see every meeting. Anything else is NOT_FOUND, exactly
like a missing resource.
"""

from __future__ import annotations

from services.meetings.deps import Deps
from services.meetings.rpc_chat import ChatRpcs
from services.meetings.rpc_clients_projects import ClientProjectRpcs
from services.meetings.rpc_insights import InsightRpcs
from services.meetings.rpc_meetings import MeetingRpcs
from services.meetings.rpc_recordings import RecordingRpcs
from services.meetings.rpc_search import SearchRpcs
from voka.meetings.v1 import meetings_pb2_grpc


class MeetingsServicer(
    ClientProjectRpcs,
    MeetingRpcs,
    RecordingRpcs,
    ChatRpcs,
    InsightRpcs,
    SearchRpcs,
    meetings_pb2_grpc.MeetingsServiceServicer,
):
    """The meetings service's RPCs."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
