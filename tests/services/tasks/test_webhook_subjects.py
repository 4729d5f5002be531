"""Webhooks can follow the kit's alert events (voka.ops.alert.*): an on-call system gets them
like any other event, without a list to keep in the tasks service."""

from __future__ import annotations

from services.tasks.webhooks.subjects import followed, pattern_problem, public_events
from voka.ops.v1 import events_pb2


def test_alert_events_are_deliverable():
    events = public_events()
    assert events["voka.ops.alert.raised"] is events_pb2.AlertRaisedEvent
    assert events["voka.ops.alert.resolved"] is events_pb2.AlertResolvedEvent
    assert pattern_problem("voka.ops.alert.*") is None
    assert set(followed(["voka.ops.alert.*"])) == {
        "voka.ops.alert.raised",
        "voka.ops.alert.resolved",
    }
