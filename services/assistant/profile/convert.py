"""Profile records as the contract's messages."""

from __future__ import annotations

from services.assistant.profile.records import ProfileRecord
from voka import wellknown
from voka.assistant.v1 import assistant_pb2


def profile(record: ProfileRecord) -> assistant_pb2.Profile:
    message = assistant_pb2.Profile(
        name=f"{record.owner}/profile",
        tone=record.tone,
        language=record.language,
        verbosity=record.verbosity,
        memory_enabled=record.memory_enabled,
        positive_feedback=record.positive_feedback,
        negative_feedback=record.negative_feedback,
    )
    if record.technical is not None and record.emotional is not None:
        message.hemisphere.technical = record.technical
        message.hemisphere.emotional = record.emotional
    if record.update_time is not None:
        message.update_time.CopyFrom(wellknown.timestamp(record.update_time))
    return message
