"""Streamed uploads (voka/uploads.py): written as they come with size and SHA-256, refused at
the first bytes or at the chunk past the limit, and never left half-written on disk."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voka import uploads

WAV_HEAD = b"RIFF\x00\x00\x00\x00WAVEfmt "


async def streamed(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


class NotAudio(Exception):
    pass


class Sniffer:
    """Records what it is shown; refuses anything that is not a WAV header."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []

    def __call__(self, head: bytes) -> None:
        self.seen.append(head)
        if not head.startswith(b"RIFF"):
            raise NotAudio(head)


async def test_a_stream_is_written_with_its_size_digest_and_head(tmp_path: Path) -> None:
    body = WAV_HEAD + os.urandom(300_000)
    pieces = [body[i : i + 5] for i in range(0, 40, 5)] + [body[40:]]  # a header in tiny chunks
    sniffer = Sniffer()
    path = tmp_path / "deep" / "upload.wav"
    written = await uploads.write(
        streamed(*pieces), path, max_bytes=len(body), sniff=sniffer, keep_head=1000
    )
    assert path.read_bytes() == body
    assert written.size == len(body)
    assert written.sha256 == hashlib.sha256(body).hexdigest()
    assert written.head == body[:1000]
    assert sniffer.seen == [body[: uploads.SNIFF_BYTES]]  # once, with exactly the first bytes


async def test_a_stream_that_is_not_what_it_claims_is_refused_before_the_rest_is_read(
    tmp_path: Path,
) -> None:
    read: list[bytes] = []

    async def chunks() -> AsyncIterator[bytes]:
        for chunk in (b"<html><body>not audio", b"more", b"and more"):
            read.append(chunk)
            yield chunk

    path = tmp_path / "upload.wav"
    with pytest.raises(NotAudio):
        await uploads.write(chunks(), path, max_bytes=1000, sniff=Sniffer())
    assert read == [b"<html><body>not audio"]
    assert not path.exists()


async def test_past_the_limit_is_refused_at_that_chunk_and_nothing_stays(tmp_path: Path) -> None:
    path = tmp_path / "upload.wav"
    with pytest.raises(uploads.TooLarge) as refused:
        await uploads.write(
            streamed(WAV_HEAD, b"x" * 100, b"y" * 100), path, max_bytes=150, sniff=Sniffer()
        )
    assert refused.value.limit == 150
    assert not path.exists()


@pytest.mark.parametrize("chunks", [(), (b"",), (b"RIF",)])
async def test_a_short_or_empty_stream_is_still_shown_to_the_sniffer(
    tmp_path: Path, chunks: tuple[bytes, ...]
) -> None:
    sniffer = Sniffer()
    path = tmp_path / "upload.wav"
    with pytest.raises(NotAudio):
        await uploads.write(streamed(*chunks), path, max_bytes=100, sniff=sniffer)
    assert sniffer.seen == [b"".join(chunks)]
    assert not path.exists()


async def test_bodies_yields_the_first_message_then_the_rest() -> None:
    class Body:
        def __init__(self, data: bytes) -> None:
            self.data = data

    class Message:
        def __init__(self, data: bytes) -> None:
            self.body = Body(data)

    async def rest() -> AsyncIterator[Message]:
        yield Message(b"b")
        yield Message(b"c")

    assert [chunk async for chunk in uploads.bodies(Message(b"a"), rest())] == [b"a", b"b", b"c"]
