"""Audio files on disk under the speech data directory: uploads waiting for (or kept with)
their transcription, voice samples and text entries. The database holds the metadata and the
path relative to the root, so the data directory can move; workers get a `file://` URI.

Writes go to a temporary name and are renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

UPLOADS = "uploads"
SAMPLES = "samples"
TEXT_ENTRIES = "text-entries"


READ_BYTES = 1024 * 1024  # what hashing a stored file holds at a time


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """A stored file's SHA-256, read in READ_BYTES pieces (blocking: run it in a thread)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while piece := file.read(READ_BYTES):
            digest.update(piece)
    return digest.hexdigest()


class Blobs:
    """Files under `root` (`<data_dir>/speech`), addressed by `<kind>/<id>`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, relative: str) -> Path:
        """The absolute path of a stored file; refuses anything outside the root."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"{relative!r} is outside the speech data directory")
        return path

    def uri(self, relative: str) -> str:
        return self.path(relative).as_uri()

    def relative(self, uri: str) -> str:
        """The stored path behind a `file://` URI this store handed out."""
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise ValueError(f"{uri!r} is not a file:// URI")
        return str(self.path(unquote(parsed.path)).relative_to(self.root))

    async def write(self, kind: str, name: str, data: bytes) -> str:
        relative = f"{kind}/{name}"
        await asyncio.to_thread(self._write, self.path(relative), data)
        return relative

    def temporary(self, kind: str, name: str) -> Path:
        """Where a file being received goes until `commit` renames it into place."""
        path = self.path(f"{kind}/.{name}.{os.getpid()}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    async def commit(self, temporary: Path, kind: str, name: str) -> str:
        """A received file (see `temporary`), flushed to disk and renamed into place."""
        relative = f"{kind}/{name}"
        await asyncio.to_thread(self._commit, temporary, self.path(relative))
        return relative

    async def discard(self, temporary: Path) -> None:
        await asyncio.to_thread(self._delete, temporary)

    async def read(self, relative: str) -> bytes:
        return await asyncio.to_thread(self.path(relative).read_bytes)

    async def delete(self, relative: str) -> None:
        await asyncio.to_thread(self._delete, self.path(relative))

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)

    @staticmethod
    def _commit(temporary: Path, path: Path) -> None:
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        temporary.replace(path)

    @staticmethod
    def _delete(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
