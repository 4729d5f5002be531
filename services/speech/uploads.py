"""How a transcription's audio arrives and is stored before its job is queued: one message's
body (CreateTranscription, up to `speech_max_upload_bytes`), a client stream
(UploadTranscription) or an object of the mesh's object store that a service hands over on a
user's behalf (`audio_uri`), both up to `speech_max_stream_upload_bytes`.

A stream or an object is written to a temporary file piece by piece (never whole in memory),
its size bounded and its SHA-256 computed on the way, then renamed into the uploads; what can be
refused without decoding (the format from the first bytes, a WAV header's claims) is refused
here, the rest is the worker's when it decodes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from services.speech import audio, validation
from services.speech.blobs import UPLOADS, Blobs, sha256
from services.speech.settings import SpeechSettings
from voka import errors, uploads
from voka.authn import Identity
from voka.errors import FieldViolation
from voka.objects import ObjectNotFound, ObjectRef, Objects, ObjectTooLarge

OBJECT = "objects.voka.dev/Object"


@dataclass(frozen=True)
class Upload:
    """Audio stored under the uploads, named by the job it is for."""

    job_id: str
    path: str  # relative to the speech data directory
    size: int
    sha256: str
    format: audio.AudioFormat


class Uploads:
    """Stores audio for transcription jobs, from each of the three ways it comes in."""

    def __init__(self, blobs: Blobs, objects: Objects, settings: SpeechSettings) -> None:
        self._blobs = blobs
        self._objects = objects
        self._settings = settings

    async def from_body(self, data: bytes) -> Upload:
        """One message's audio, checked (format, size, a header's claims), then written."""
        fmt = validation.checked_upload(
            data, max_bytes=self._settings.speech_max_upload_bytes,
            max_seconds=self._settings.speech_job_max_seconds,
        )  # fmt: skip
        job_id = uuid.uuid4().hex
        path = await self._blobs.write(UPLOADS, job_id, data)
        return Upload(job_id, path, len(data), sha256(data), fmt)

    async def from_stream(self, chunks: AsyncIterator[bytes]) -> Upload:
        """A client stream written as it comes (`voka.uploads`): INVALID_ARGUMENT on `body` as
        soon as its first bytes are not audio, RESOURCE_EXHAUSTED once it passes the limit."""
        limit = self._settings.speech_max_stream_upload_bytes
        job_id = uuid.uuid4().hex
        temporary = self._blobs.temporary(UPLOADS, job_id)
        try:
            written = await uploads.write(
                chunks, temporary, max_bytes=limit, sniff=_sniffed, keep_head=audio.HEAD_BYTES
            )
        except uploads.TooLarge as exc:
            raise errors.resource_exhausted(
                f"the audio is {exc} (speech_max_stream_upload_bytes)"
            ) from exc
        try:
            fmt = self._checked(written.head)
            path = await self._blobs.commit(temporary, UPLOADS, job_id)
        except BaseException:
            await self._blobs.discard(temporary)
            raise
        return Upload(job_id, path, written.size, written.sha256, fmt)

    async def from_object(self, caller: Identity, uri: str) -> Upload:
        """The object `uri` names, copied chunk by chunk: only a service acting for a user may
        hand one over, and only an object that user owns."""
        field = "audio_uri"
        if not caller.actor:
            raise errors.permission_denied(
                "only a service acting on a user's behalf may pass audio by reference",
                [FieldViolation(field, "needs a service caller acting for a user")],
            )
        try:
            ref = ObjectRef.parse(uri)
        except ValueError as exc:
            raise errors.invalid_argument([FieldViolation(field, str(exc))]) from exc
        try:
            found = await self._objects.info(ref)
        except ObjectNotFound as exc:
            raise errors.not_found(OBJECT, uri) from exc
        if found.owner != caller.subject:
            raise errors.permission_denied(
                f"{uri} is not {caller.subject}'s",
                [FieldViolation(field, "the object belongs to another user")],
            )
        return await self._copied(ref)

    async def _copied(self, ref: ObjectRef) -> Upload:
        job_id = uuid.uuid4().hex
        temporary = self._blobs.temporary(UPLOADS, job_id)
        limit = self._settings.speech_max_stream_upload_bytes
        try:
            stored = await self._objects.get_into(ref, temporary, max_bytes=limit)
            fmt = self._checked(await asyncio.to_thread(_head, temporary), "audio_uri")
            path = await self._blobs.commit(temporary, UPLOADS, job_id)
        except ObjectTooLarge as exc:
            await self._blobs.discard(temporary)
            raise errors.resource_exhausted(f"{exc} (speech_max_stream_upload_bytes)") from exc
        except ObjectNotFound as exc:
            await self._blobs.discard(temporary)
            raise errors.not_found(OBJECT, str(ref)) from exc
        except BaseException:
            await self._blobs.discard(temporary)
            raise
        return Upload(job_id, path, stored.size, stored.sha256, fmt)

    def _checked(self, head: bytes, field: str = "body") -> audio.AudioFormat:
        """The format from the first bytes and a WAV header's claims (the size is the
        caller's to check: `head` is only the start)."""
        try:
            return audio.check(
                head, max_bytes=self._settings.speech_max_stream_upload_bytes,
                max_seconds=self._settings.speech_job_max_seconds,
            )  # fmt: skip
        except audio.AudioError as exc:
            raise errors.invalid_argument([validation.audio_violation(exc, field)]) from exc


def _sniffed(head: bytes) -> None:
    """Refuse a stream whose first bytes already show it is not audio."""
    try:
        audio.sniff(head)
    except audio.AudioError as exc:
        raise errors.invalid_argument([validation.audio_violation(exc)]) from exc


def _head(path: Path) -> bytes:
    with open(path, "rb") as file:
        return file.read(audio.HEAD_BYTES)
