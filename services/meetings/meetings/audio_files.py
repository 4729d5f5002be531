"""Recordings on disk: the container sniffed from the first bytes, the upload streamed to a
file under the data directory with its size bounded and its SHA-256 computed on the way
(`voka.uploads`).

Only the container is checked here (the same magic numbers the speech service accepts); the
speech service decodes the audio when it transcribes it, and an unreadable file ends as a
FAILED recording with its reason. The meetings service never imports the speech service's code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from voka import uploads

ACCEPTED = "wav, mp3, m4a, ogg, webm, flac"
EXTENSIONS = {
    "audio/wav": ".wav", "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/ogg": ".ogg",
    "audio/webm": ".webm", "audio/flac": ".flac",
}  # fmt: skip
ALIASES = {
    "audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg", "audio/x-m4a": "audio/mp4", "audio/m4a": "audio/mp4",
    "video/mp4": "audio/mp4", "application/ogg": "audio/ogg", "audio/opus": "audio/ogg",
    "video/webm": "audio/webm", "audio/x-flac": "audio/flac",
}  # fmt: skip
UNDECLARED = frozenset({"", "application/octet-stream"})


MAGIC = (  # (offset, bytes, type): the containers the speech service accepts
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"\x1a\x45\xdf\xa3", "audio/webm"),
    (4, b"ftyp", "audio/mp4"),
    (0, b"ID3", "audio/mpeg"),
)


def sniff(head: bytes) -> str | None:
    """The MIME type of an accepted container from its first 12 bytes, else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    for offset, magic, kind in MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    # An MPEG audio frame sync (11 set bits) with a layer set; ADTS AAC has layer 0.
    sync = len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0
    return "audio/mpeg" if sync and head[1] & 0x06 != 0 else None


def declared(content_type: str) -> str:
    """A declared Content-Type, without parameters, with common aliases resolved."""
    base = content_type.split(";", maxsplit=1)[0].strip().lower()
    return ALIASES.get(base, base)


class UploadError(Exception):
    """The upload cannot be stored: `path` names the request field, the text says why."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(reason)
        self.path = path


@dataclass(frozen=True)
class StoredFile:
    path: Path
    content_type: str
    size_bytes: int
    sha256: str


async def store(
    chunks: AsyncIterator[bytes], path: Path, *, claimed: str, max_bytes: int
) -> StoredFile:
    """Write `chunks` to `path` (`voka.uploads`); UploadError (and nothing left behind) when
    the content is not an accepted container, differs from the `claimed` type, or exceeds
    `max_bytes`."""
    try:
        written = await uploads.write(
            chunks, path, max_bytes=max_bytes, sniff=lambda head: _checked(head, claimed)
        )
    except uploads.TooLarge as exc:
        raise UploadError("body.data", f"the recording is {exc}") from exc
    return StoredFile(path, _checked(written.head, claimed), written.size, written.sha256)


def _checked(head: bytes, claimed: str) -> str:
    if not head:
        raise UploadError("body.data", "the recording is empty")
    kind = sniff(head[:12])
    if kind is None:
        raise UploadError("body.data", f"not audio in an accepted format ({ACCEPTED})")
    if declared(claimed) not in UNDECLARED and declared(claimed) != kind:
        raise UploadError("body.content_type", f"says {claimed} but the content is {kind}")
    return kind


async def remove(*paths: Path | str) -> None:
    """Delete stored files (gone already is fine), off the event loop."""
    for path in paths:
        await asyncio.to_thread(Path(path).unlink, missing_ok=True)
