"""The mesh's object store (voka/objects.py) on a real nats-server run as `make up` runs it:
each service's NATS user writes only its own bucket, reads another's only where declared, an
object keeps its owner, type, size and SHA-256, and a read is chunked and verified."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from tests.fixtures.nats import SignIn
from voka.objects import CHUNK_BYTES, ObjectNotFound, ObjectRef, Objects, ObjectTooLarge

pytestmark = pytest.mark.integration
DENIED = 1.0  # seconds to wait for the answer to a JetStream request the server drops
MiB = 1024 * 1024


CONTENT = os.urandom(3 * MiB + 12345)  # many chunks, the last one short


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "recording.wav"
    path.write_bytes(CONTENT)
    return path


def test_references_round_trip_and_refuse_anything_else() -> None:
    ref = ObjectRef("voka-meetings", "abc123")
    assert str(ref) == "objects://voka-meetings/abc123"
    assert ObjectRef.parse(str(ref)) == ref
    for bad in ("file:///etc/passwd", "objects://voka-meetings/", "objects://a/../b", ""):
        with pytest.raises(ValueError, match="reference"):
            ObjectRef.parse(bad)


async def test_the_owner_writes_a_declared_reader_reads_chunk_by_chunk(
    signed_in: SignIn, recording: Path, tmp_path: Path
) -> None:
    meetings = await Objects((await signed_in("meetings")).js, "meetings").open(
        max_bytes=64 * MiB, max_age=3600
    )
    stored = await meetings.put_file(recording, owner="users/ana", content_type="audio/wav")
    assert str(stored.ref).startswith("objects://voka-meetings/")
    assert (stored.owner, stored.content_type) == ("users/ana", "audio/wav")
    assert (stored.size, stored.sha256) == (len(CONTENT), hashlib.sha256(CONTENT).hexdigest())
    assert stored.size > 20 * CHUNK_BYTES

    speech = Objects((await signed_in("speech")).js, "speech")  # declares reads_objects=meetings
    assert await speech.info(stored.ref) == stored
    copy = tmp_path / "copy.wav"
    assert await speech.get_into(stored.ref, copy, max_bytes=4 * MiB) == stored
    assert await asyncio.to_thread(copy.read_bytes) == CONTENT
    with pytest.raises(ObjectTooLarge):
        await speech.get_into(stored.ref, tmp_path / "refused", max_bytes=MiB)

    await meetings.delete(stored.ref)
    with pytest.raises(ObjectNotFound):
        await speech.info(stored.ref)
    await meetings.delete(stored.ref)  # gone already is fine


async def test_others_can_neither_read_nor_write_a_domains_bucket(
    signed_in: SignIn, recording: Path, tmp_path: Path
) -> None:
    meetings = await Objects((await signed_in("meetings")).js, "meetings").open(
        max_bytes=64 * MiB, max_age=3600
    )
    stored = await meetings.put_file(recording, owner="users/ana", content_type="audio/wav")
    translate = (await signed_in("translate")).nc.jetstream(timeout=DENIED)
    with pytest.raises(TimeoutError):  # undeclared reader: the server drops its request
        await Objects(translate, "translate").get_into(stored.ref, tmp_path / "x", max_bytes=MiB)
    speech = (await signed_in("speech")).nc.jetstream(timeout=DENIED)
    intruder = Objects(speech, "meetings")  # writing there as speech
    with pytest.raises(Exception):  # noqa: B017, PT011 (denied: timeout or API error)
        await intruder.put_file(recording, owner="users/eve", content_type="audio/wav")
    assert (await meetings.info(stored.ref)).owner == "users/ana"


async def test_a_full_bucket_refuses_a_put_and_keeps_nothing_of_it(
    signed_in: SignIn, recording: Path
) -> None:
    bus = await signed_in("meetings")
    objects = await Objects(bus.js, "meetings").open(max_bytes=2 * MiB, max_age=3600)
    with pytest.raises(Exception):  # noqa: B017, PT011 (nats: maximum bytes exceeded)
        await objects.put_file(recording, owner="users/ana", content_type="audio/wav")
    info = await bus.js.stream_info("OBJ_voka-meetings")
    assert info.state.bytes < 2 * MiB
    assert info.config.max_age == 3600
