"""Text-entry records ↔ contract messages."""

from __future__ import annotations

from services.speech.text_entries.records import TextEntryRecord
from voka.speech.v1 import speech_pb2
from voka.wellknown import duration, timestamp


def text_entry(record: TextEntryRecord) -> speech_pb2.TextEntry:
    return speech_pb2.TextEntry(
        name=record.name,
        owner=record.owner,
        original_text=record.original_text,
        language=record.language,
        transcript=record.transcript,
        word_error_rate=record.errors.rate,
        word_errors=speech_pb2.WordErrors(**record.errors.__dict__),
        model=record.model,
        file_name=record.file_name,
        content_type=record.content_type,
        size_bytes=record.size_bytes,
        sha256=record.sha256,
        audio_duration=duration(record.audio_seconds),
        create_time=timestamp(record.create_time),
    )
