"""The speech stores on SQLite and PostgreSQL: migrations, conditional state changes (a stale
attempt changes nothing), request-id deduplication, keyset pages, the sample quota, the
text-entry search."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from google.rpc import code_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.speech.records import VoiceSampleRecord
from services.speech.text_entries.records import TextEntryRecord
from services.speech.text_entries.store import TextEntryFilter, TextEntryStore
from services.speech.text_entries.wer import word_errors
from services.speech.transcription_store import (
    NewTranscription,
    TranscriptionFilter,
    TranscriptionStore,
)
from services.speech.voice_sample_store import QuotaExceeded, VoiceSampleFilter, VoiceSampleStore
from voka import db
from voka.pagination import Cursor, Page
from voka.speech.v1 import speech_pb2

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = db.create_engine(database_url)
    await db.migrate(engine, "speech")
    yield db.session_factory(engine)
    await engine.dispose()


def new_job(
    owner: str = "users/a", request_id: str | None = None, minutes: int = 0
) -> NewTranscription:
    job_id = uuid.uuid4().hex
    return NewTranscription(
        id=job_id,
        owner=owner,
        config=speech_pb2.RecognitionConfig(language="es"),
        file_name="a.wav",
        external_reference="",
        request_id=request_id,
        content_type="audio/wav",
        size_bytes=10,
        sha256="0" * 64,
        audio_path=f"uploads/{job_id}",
        create_time=NOW + timedelta(minutes=minutes),
    )


async def test_a_stale_attempt_cannot_overwrite_the_current_one(sessions):
    store = TranscriptionStore(sessions)
    job, _ = await store.create(new_job())
    first = await store.start(job.id, "w1", NOW)
    second = await store.start(job.id, "w2", NOW)  # w1 was given up on
    assert (first.attempts, second.attempts, second.worker) == (1, 2, "w2")
    result = speech_pb2.TranscriptionResult(text="hola", language="es")
    assert await store.succeed(job.id, 1, result, NOW) is None
    assert await store.progress(job.id, 1, 5.0, 10.0, NOW) is None
    done = await store.succeed(job.id, 2, result, NOW)
    assert done.state == speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED
    assert done.result.text == "hola"
    assert done.config.language == "es"
    assert await store.fail(job.id, 2, code_pb2.INTERNAL, "late", NOW) is None
    assert await store.cancel(job.id, "late", NOW) is None
    assert await store.delete(job.id) == job.audio_path


async def test_cancel_queued_at_once_and_running_by_request(sessions):
    store = TranscriptionStore(sessions)
    queued, _ = await store.create(new_job())
    cancelled = await store.cancel(queued.id, "no", NOW)
    assert cancelled.state == speech_pb2.TRANSCRIPTION_STATE_CANCELLED
    assert (cancelled.error.code, cancelled.error.message) == (code_pb2.CANCELLED, "no")
    running, _ = await store.create(new_job())
    await store.start(running.id, "w", NOW)
    asked = await store.cancel(running.id, "stop", NOW)
    assert asked.state == speech_pb2.TRANSCRIPTION_STATE_RUNNING
    assert asked.cancel_requested
    assert await store.delete(running.id) is None  # not final yet
    stopped = await store.stop_cancelled(running.id, 1, "stop", NOW)
    assert stopped.state == speech_pb2.TRANSCRIPTION_STATE_CANCELLED


async def test_request_ids_deduplicate_for_a_day_per_owner(sessions):
    store = TranscriptionStore(sessions)
    first, dup = await store.create(new_job(request_id="k"))
    again, dup_again = await store.create(new_job(request_id="k"))
    assert (dup, dup_again, again.id) == (False, True, first.id)
    other, dup_other = await store.create(new_job(owner="users/b", request_id="k"))
    assert not dup_other
    assert other.id != first.id
    tomorrow, dup_later = await store.create(new_job(request_id="k", minutes=25 * 60))
    assert not dup_later
    assert tomorrow.id != first.id


async def test_keyset_pages_newest_first(sessions):
    store = TranscriptionStore(sessions)
    made = [(await store.create(new_job(owner="users/p", minutes=i)))[0].id for i in range(5)]
    listing = await store.page(TranscriptionFilter("users/p"), Page(3))
    first, total, more = listing.items, listing.total, listing.more
    last = first[-1]
    after = await store.page(
        TranscriptionFilter("users/p"), Page(3, Cursor(last.create_time, last.id))
    )
    rest, more_after = after.items, after.more
    assert [r.id for r in first + rest] == made[::-1]
    assert (total, more, more_after) == (5, True, False)


async def test_sample_quota_counts_count_and_bytes(sessions):
    store = VoiceSampleStore(sessions)

    def record(size: int) -> VoiceSampleRecord:
        sample_id = uuid.uuid4().hex
        return VoiceSampleRecord(
            id=sample_id, owner="users/q", display_name="s", language="en", description="",
            file_name="", content_type="audio/wav", size_bytes=size, sha256="0" * 64,
            duration_seconds=1.0, sample_rate=16000, channel_count=1,
            path=f"samples/{sample_id}", create_time=NOW, update_time=NOW,
        )  # fmt: skip

    assert (await store.add(record(60), max_count=2, max_bytes=100)).bytes == 60
    with pytest.raises(QuotaExceeded) as err:
        await store.add(record(50), max_count=2, max_bytes=100)
    assert (err.value.usage.count, err.value.usage.bytes) == (1, 60)
    assert (await store.add(record(40), max_count=2, max_bytes=100)).count == 2
    with pytest.raises(QuotaExceeded):
        await store.add(record(0), max_count=2, max_bytes=100)
    listing = await store.page(VoiceSampleFilter("users/q"), Page(50))
    rows, total = listing.items, listing.total
    assert total == 2
    assert sorted(r.size_bytes for r in rows) == [40, 60]


def new_entry(owner: str, text: str, transcript: str, minutes: int) -> TextEntryRecord:
    entry_id = uuid.uuid4().hex
    return TextEntryRecord(
        id=entry_id, owner=owner, original_text=text, language="en", transcript=transcript,
        errors=word_errors(text, transcript), model="tiny.en", file_name="", size_bytes=10,
        content_type="audio/wav", sha256="0" * 64, audio_seconds=1.5,
        path=f"text-entries/{entry_id}", create_time=NOW + timedelta(minutes=minutes),
    )  # fmt: skip


async def test_text_entries_search_page_and_erase(sessions):
    """The search ignores case in both columns and takes LIKE's wildcards literally, on both
    databases; the word counts come back as stored."""
    store = TextEntryStore(sessions)
    mine = [
        new_entry("users/a", "Quarterly REPORT due", "quarterly report do", 0),
        new_entry("users/a", "fifty percent", "Fifty 100% percent", 1),
        new_entry("users/a", "nothing alike", "the Report was late", 2),
    ]
    for entry in [*mine, new_entry("users/b", "a report too", "a report too", 3)]:
        await store.add(entry)
    assert await store.get(mine[0].id) == mine[0]
    assert mine[0].errors.substitutions == 1

    async def names(query: str, owner: str | None = "users/a") -> list[str]:
        listing = await store.page(TextEntryFilter(owner, query), Page(10, None))
        return [entry.id for entry in listing.items]

    assert await names("report") == [mine[2].id, mine[0].id]  # newest first
    assert len(await names("REPORT", owner=None)) == 3
    assert await names("100%") == [mine[1].id]
    assert await names("0%") == [mine[1].id]
    assert await names("1_0") == []  # `_` is no wildcard
    first = await store.page(TextEntryFilter("users/a"), Page(2, None))
    assert (len(first.items), first.more, first.total) == (2, True, 3)
    last = first.items[-1]
    rest = await store.page(TextEntryFilter("users/a"), Page(2, Cursor(last.create_time, last.id)))
    assert [entry.id for entry in rest.items] == [mine[0].id]
    assert await store.delete(mine[0].id) == mine[0].path
    assert await store.delete(mine[0].id) is None
    assert sorted(await store.erase_owner("users/a")) == sorted(e.path for e in mine[1:])
    assert await names("", owner=None) != []  # users/b keeps theirs
