"""Creating and removing text entries: the audio is transcribed within the request (it is
bounded like Transcribe's uploads, so it is short enough to wait for), then the file and the row
are written together here, so neither outlives the other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.speech import audio
from services.speech.blobs import TEXT_ENTRIES, Blobs, sha256
from services.speech.recognition import Recognition
from services.speech.text_entries.records import TextEntryRecord
from services.speech.text_entries.store import TextEntryStore
from services.speech.text_entries.wer import word_errors
from voka.speech.v1 import speech_pb2


class TextEntries:
    """Transcribing, storing and removing text entries."""

    def __init__(self, store: TextEntryStore, blobs: Blobs, recognition: Recognition) -> None:
        self._store = store
        self._blobs = blobs
        self._recognition = recognition

    async def create(
        self,
        owner: str,
        request: speech_pb2.CreateTextEntryRequest,
        decoded: audio.DecodedAudio,
    ) -> TextEntryRecord:
        """Transcribe the decoded upload, measure it against the text, store both. Nothing is
        kept when recognition fails (the error is the caller's answer)."""
        config = speech_pb2.RecognitionConfig(language=request.language, model=request.model)
        result = await self._recognition.result(decoded.samples, config)
        data = request.body.data
        entry_id = uuid.uuid4().hex
        path = await self._blobs.write(TEXT_ENTRIES, entry_id, data)
        record = TextEntryRecord(
            id=entry_id, owner=owner, original_text=request.original_text,
            language=request.language or result.language, transcript=result.text.strip(),
            errors=word_errors(request.original_text, result.text), model=result.model,
            file_name=request.file_name, content_type=decoded.format.mime_type,
            size_bytes=len(data), sha256=sha256(data), audio_seconds=decoded.duration, path=path,
            create_time=datetime.now(UTC),
        )  # fmt: skip
        try:
            await self._store.add(record)
        except BaseException:
            await self._blobs.delete(path)
            raise
        return record

    async def delete(self, record: TextEntryRecord) -> None:
        """The row, then the file."""
        path = await self._store.delete(record.id)
        if path is not None:
            await self._blobs.delete(path)
