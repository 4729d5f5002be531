"""The bounds of the text-entry RPCs' fields (the audio is checked like every upload)."""

from __future__ import annotations

from services.speech.text_entries.wer import words
from services.speech.validation import MAX_FILE_NAME, language, length, model, owner
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2

MAX_TEXT_CHARS = 5000  # a page read aloud; the rate over longer texts says little more
MAX_QUERY_CHARS = 200


def create(request: speech_pb2.CreateTextEntryRequest) -> list[FieldViolation]:
    found = [
        *length(request.original_text, "original_text", MAX_TEXT_CHARS),
        *language(request.language, "language"),
        *length(request.file_name, "file_name", MAX_FILE_NAME),
        *model(request.model, "model"),
    ]
    if not words(request.original_text):  # the rate is per word of the original text
        found.append(FieldViolation("original_text", "must have at least one word"))
    return found


def listing(request: speech_pb2.ListTextEntriesRequest) -> list[FieldViolation]:
    return [
        *length(request.query, "query", MAX_QUERY_CHARS),
        *language(request.language, "language"),
        *owner(request.owner),
    ]
