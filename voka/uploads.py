"""Client-streamed uploads written to disk as they arrive: speech's UploadTranscription and
meetings' UploadRecording both take audio of any length this way.

The bytes are never whole in memory: each chunk is written (in a worker thread) as it comes,
the SHA-256 computed on the way and the size bounded, so a stream over the limit is refused at
the chunk that passes it, and a stream that is not what it claims at its first bytes, before
the rest is read. Whatever goes wrong, nothing is left at the path.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SNIFF_BYTES = 12  # enough for any accepted container's magic number


class _HttpBody(Protocol):
    data: bytes


class BodyMessage(Protocol):
    """A client-stream message whose audio is a `google.api.HttpBody` named `body`."""

    @property
    def body(self) -> _HttpBody: ...


class TooLarge(Exception):
    """The stream passed `limit` bytes; what was written is gone."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Written:
    size: int
    sha256: str
    head: bytes  # the first `keep_head` bytes, for checks of the header after the stream


async def bodies(first: BodyMessage, rest: AsyncIterator[BodyMessage]) -> AsyncIterator[bytes]:
    """The bytes of a stream's messages, the first one already read (it carried the options
    checked before any audio is stored)."""
    yield first.body.data
    async for message in rest:
        yield message.body.data


async def write(
    chunks: AsyncIterator[bytes], path: Path, *, max_bytes: int,
    sniff: Callable[[bytes], object], keep_head: int = SNIFF_BYTES,
) -> Written:  # fmt: skip
    """Write `chunks` to `path`. `sniff` sees the first SNIFF_BYTES bytes (fewer when the stream
    is shorter, `b""` when empty) once, before anything past them is read, and raises to refuse
    them (what it returns is ignored); TooLarge past `max_bytes`. On any exception `path` is
    removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size, head, sniffed = hashlib.sha256(), 0, b"", False
    kept = max(keep_head, SNIFF_BYTES)
    try:
        with open(path, "wb") as file:  # noqa: ASYNC230 (written in a thread)
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(max_bytes)
                if len(head) < kept:
                    head += chunk[: kept - len(head)]
                if not sniffed and len(head) >= SNIFF_BYTES:
                    sniff(head[:SNIFF_BYTES])
                    sniffed = True
                digest.update(chunk)
                await asyncio.to_thread(file.write, chunk)
        if not sniffed:
            sniff(head)
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return Written(size, digest.hexdigest(), head[:keep_head])
