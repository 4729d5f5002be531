"""The transcription events of the contract, built from job records.

A job's final event has a fixed id (`<job>-completed`, ...), so a worker that publishes it
again after a crash or a lost ack cannot make consumers see it twice: JetStream drops the
repeat within its duplicate window, and consumers' inboxes after it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.message import Message

from services.speech.records import TranscriptionRecord
from voka.bus import subject_of
from voka.speech.v1 import events_pb2, speech_pb2
from voka.wellknown import duration, timestamp

JOB_EVENTS: dict[str, type[Message]] = {
    t.DESCRIPTOR.full_name: t
    for t in (
        events_pb2.TranscriptionRequestedEvent,
        events_pb2.TranscriptionProgressedEvent,
        events_pb2.TranscriptionCompletedEvent,
        events_pb2.TranscriptionFailedEvent,
        events_pb2.TranscriptionCancellationRequestedEvent,
        events_pb2.TranscriptionCancelledEvent,
    )
}
JOB_SUBJECTS = "voka.speech.transcription.>"
CANCELLATION_SUBJECT = subject_of(events_pb2.TranscriptionCancellationRequestedEvent)


def requested(
    record: TranscriptionRecord, audio_uri: str
) -> events_pb2.TranscriptionRequestedEvent:
    return events_pb2.TranscriptionRequestedEvent(
        transcription=record.name,
        owner=record.owner,
        audio_uri=audio_uri,
        content_type=record.content_type,
        size_bytes=record.size_bytes,
        sha256=record.sha256,
        config=record.config,
        external_reference=record.external_reference,
        create_time=timestamp(record.create_time),
    )


def progressed(
    record: TranscriptionRecord, worker: str, audio_seconds: float
) -> events_pb2.TranscriptionProgressedEvent:
    return events_pb2.TranscriptionProgressedEvent(
        transcription=record.name,
        owner=record.owner,
        attempt=record.attempts,
        progress_percent=record.progress_percent,
        processed_duration=duration(record.processed_seconds),
        audio_duration=duration(audio_seconds),
        worker=worker,
        time=timestamp(datetime.now(UTC)),
    )


def cancellation_requested(
    record: TranscriptionRecord, requester: str, reason: str
) -> events_pb2.TranscriptionCancellationRequestedEvent:
    return events_pb2.TranscriptionCancellationRequestedEvent(
        transcription=record.name,
        requester=requester,
        reason=reason,
        time=timestamp(datetime.now(UTC)),
    )


def final(record: TranscriptionRecord) -> tuple[Message, str]:
    """The event that tells a final job's outcome, and its fixed id."""
    end = timestamp(record.end_time or record.update_time)
    common = {"transcription": record.name, "owner": record.owner,
              "external_reference": record.external_reference}  # fmt: skip
    if record.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED:
        message: Message = events_pb2.TranscriptionCompletedEvent(
            **common, result=record.result, attempts=record.attempts,
            create_time=timestamp(record.create_time), end_time=end,
        )  # fmt: skip
        return message, f"{record.id}-completed"
    if record.state == speech_pb2.TRANSCRIPTION_STATE_FAILED:
        message = events_pb2.TranscriptionFailedEvent(
            **common, error=record.error, attempts=record.attempts,
            create_time=timestamp(record.create_time), end_time=end,
        )  # fmt: skip
        return message, f"{record.id}-failed"
    if record.state == speech_pb2.TRANSCRIPTION_STATE_CANCELLED:
        reason = record.error.message if record.error is not None else ""
        message = events_pb2.TranscriptionCancelledEvent(**common, reason=reason, end_time=end)
        return message, f"{record.id}-cancelled"
    raise ValueError(f"{record.name} is not in a final state")
