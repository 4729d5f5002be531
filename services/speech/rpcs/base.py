"""What every SpeechService RPC shares: the parts that do the work, and the two habits of its
handlers: a record named in a request is found only when the caller may see it, and the
in-memory catalogues (models, voices) are paged by offset."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar, cast

import grpc

from services.speech import audio, validation
from services.speech.recognition import Recognition
from services.speech.settings import SpeechSettings
from services.speech.synthesis import Synthesis
from services.speech.text_entries.entries import TextEntries
from services.speech.text_entries.store import TextEntryStore
from services.speech.transcription_store import TranscriptionStore
from services.speech.transcriptions import Transcriptions
from services.speech.tts.catalogue import VoiceCatalogue
from services.speech.uploads import Uploads
from services.speech.voice_sample_store import VoiceSampleStore
from services.speech.voice_samples import VoiceSamples
from voka import pagination, tenancy
from voka.speech.v1 import speech_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


class Owned(Protocol):
    @property
    def owner(self) -> str: ...


Record = TypeVar("Record", bound=Owned)
Item = TypeVar("Item")


class SpeechRpcs(speech_pb2_grpc.SpeechServiceServicer):
    """The dependencies of the SpeechService RPCs (one resource per subclass)."""

    def __init__(
        self,
        *,
        settings: SpeechSettings,
        recognition: Recognition,
        transcriptions: Transcriptions,
        transcription_store: TranscriptionStore,
        uploads: Uploads,
        voices: VoiceCatalogue,
        synthesis: Synthesis,
        voice_samples: VoiceSamples,
        voice_sample_store: VoiceSampleStore,
        text_entries: TextEntries,
        text_entry_store: TextEntryStore,
    ) -> None:
        self._settings = settings
        self._recognition = recognition
        self._transcriptions = transcriptions
        self._transcription_store = transcription_store
        self._uploads = uploads
        self._voices = voices
        self._synthesis = synthesis
        self._voice_samples = voice_samples
        self._voice_sample_store = voice_sample_store
        self._text_entries = text_entries
        self._text_entry_store = text_entry_store

    async def _decoded(self, data: bytes) -> audio.DecodedAudio:
        """An upload decoded in full (it must be audio, all of it), within the configured size
        and duration limits; INVALID_ARGUMENT on `body` otherwise."""
        return await validation.decoded_upload(
            data, max_bytes=self._settings.speech_max_upload_bytes,
            max_seconds=self._settings.speech_max_seconds,
        )  # fmt: skip


async def owned_record(
    name: str,
    collection: str,
    resource_type: str,
    read: Callable[[str], Awaitable[Record | None]],
) -> Record:
    """The record `<collection>/<id>` names, read by its id; NOT_FOUND when it is missing or
    not the caller's (admins see all), so names cannot be probed for existence."""
    record_id, violations = validation.resource_id(name, collection)
    validation.check(violations)
    record = await read(record_id)
    tenancy.require_visible(None if record is None else record.owner, resource_type, name)
    return cast(Record, record)


def offset_page(items: list[Item], offset: int, size: int, query: str) -> tuple[list[Item], str]:
    """`size` items from `offset`, and the token of the rest ("" when none are left)."""
    end = offset + size
    return items[offset:end], pagination.offset_token(query, end) if end < len(items) else ""
