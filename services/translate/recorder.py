"""History, usage rows and events, built and written after the answer has gone.

The reply path only puts what happened (an `Attempt`) on a bounded in-memory queue; one background
task turns attempts into rows and events, writes the rows in small transactions and then
publishes the events. A failed write is retried with backoff; what still cannot be written is
logged with its count and counted in a metric, never dropped silently. Reads of history and
stats call `flush` first, so a caller reads its own writes; erasing an owner flushes too, so a
queued attempt cannot bring it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime

from google.protobuf.message import Message
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from services.translate import convert
from services.translate.catalogue import AUTO
from services.translate.records import TranslationRecord, UsageRecord
from services.translate.store import TranslationStore
from services.translate.translator import Job, Outcome
from voka import errors, wellknown
from voka.bus import Bus
from voka.translate.v1 import events_pb2

log = logging.getLogger("voka.translate.recorder")

LOST = Counter(
    "voka_translate_records_lost", "History/usage records that could not be written.", ["reason"]
)
EVENTS_FAILED = Counter("voka_translate_events_failed", "Events that could not be published.")
WRITE_ATTEMPTS = 4
BATCH = 100


@dataclass
class Attempt:
    """What happened to one text, as the reply path hands it over: an `outcome`, or the
    `error` it failed with. (Not frozen: a frozen dataclass costs more to build.)"""

    job: Job
    owner: str
    started: datetime
    ended: datetime
    outcome: Outcome | None = None
    translation_id: str = ""  # empty: no history kept
    error: errors.VokaError | None = None


@dataclass(frozen=True)
class Rows:
    """What one attempt leaves behind: its usage row, its history entry, its event."""

    usage: UsageRecord
    history: TranslationRecord | None
    event: Message


class Recorder:
    def __init__(self, store: TranslationStore, bus: Bus | None, size: int = 10_000) -> None:
        self._store = store
        self._bus = bus
        self._queue: asyncio.Queue[Attempt] = asyncio.Queue(maxsize=size)
        self._task: asyncio.Task[None] | None = None

    def submit(self, attempt: Attempt) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._work(), name="translate-recorder")
        try:
            self._queue.put_nowait(attempt)
        except asyncio.QueueFull:
            LOST.labels("queue_full").inc()
            log.error("history queue full: one translation record lost (owner %s)", attempt.owner)

    async def flush(self, limit: float = 5.0) -> None:
        """Wait until every attempt submitted so far is written (bounded: reads never hang)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), limit)

    async def erase(self, owner: str) -> int:
        """Everything kept for a deleted account; the rows removed."""
        await self.flush()
        return await self._store.erase_owner(owner)

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _work(self) -> None:
        while True:
            attempts = [await self._queue.get()]
            while len(attempts) < BATCH and not self._queue.empty():
                attempts.append(self._queue.get_nowait())
            try:
                built = _built(attempts)
                await self._write(built)
                await self._publish(built)
            finally:
                for _ in attempts:
                    self._queue.task_done()

    async def _write(self, built: list[Rows]) -> None:
        history = [r.history for r in built if r.history is not None]
        usages = [r.usage for r in built]
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                await self._store.add(history, usages)
                return
            except SQLAlchemyError:
                log.exception("writing %d translation records failed (try %d)", len(built), attempt)
                await asyncio.sleep(0.2 * 2**attempt)
        LOST.labels("write_failed").inc(len(built))
        log.error("%d translation records lost after %d tries", len(built), WRITE_ATTEMPTS)

    async def _publish(self, built: list[Rows]) -> None:
        if self._bus is None:
            return
        for rows in built:
            try:
                await self._bus.publish(rows.event)
            except Exception:  # events feed stats consumers; the history is already safe
                EVENTS_FAILED.inc()
                log.exception("publishing %s failed", rows.event.DESCRIPTOR.name)


def _built(attempts: list[Attempt]) -> list[Rows]:
    """Each attempt's rows; one that cannot be built is counted lost, never stops the writer."""
    built = []
    for attempt in attempts:
        try:
            built.append(rows_of(attempt))
        except Exception:
            LOST.labels("build_failed").inc()
            log.exception("building the rows of a translation record failed")
    return built


def rows_of(attempt: Attempt) -> Rows:
    """The rows and event of one attempt."""
    if attempt.outcome is not None:
        return _success(attempt, attempt.outcome)
    assert attempt.error is not None  # an attempt holds an outcome or an error
    return _failure(attempt, attempt.error)


def _success(attempt: Attempt, outcome: Outcome) -> Rows:
    """A translated text: its history entry (unless skipped), usage row and completed event."""
    job, owner, started = attempt.job, attempt.owner, attempt.started
    translation_id = attempt.translation_id
    latency_ms = outcome.latency * 1000
    model = outcome.legs[-1].model if outcome.legs else ""
    history = None
    if translation_id:
        history = TranslationRecord(
            id=translation_id,
            owner=owner,
            source_text=job.text,
            translated_text=outcome.text,
            source_language_code=outcome.source,
            detected_language_code=outcome.detected.language if outcome.detected else None,
            detected_confidence=outcome.detected.confidence if outcome.detected else None,
            target_language_code=outcome.target,
            engine=outcome.engine,
            legs=[convert.leg_to_json(leg) for leg in outcome.legs],
            character_count=len(job.text),
            cached=outcome.cached,
            latency_ms=latency_ms,
            origin=job.origin,
            create_time=started,
        )
    event = events_pb2.TranslationCompletedEvent(
        translation=f"translations/{translation_id}" if translation_id else "",
        owner=owner,
        source_language_code=outcome.source,
        target_language_code=outcome.target,
        engine=outcome.engine,  # type: ignore[arg-type]
        model=model,
        legs=[convert.leg(leg) for leg in outcome.legs],
        character_count=len(job.text),
        translated_character_count=len(outcome.text),
        latency=wellknown.duration(outcome.latency),
        cached=outcome.cached,
        origin=job.origin,  # type: ignore[arg-type]
        complete_time=wellknown.timestamp(attempt.ended),
    )
    if outcome.detected is not None:
        event.detected_language.CopyFrom(convert.detected(outcome.detected))
    usage = UsageRecord(
        owner=owner,
        source_language_code=outcome.source,
        target_language_code=outcome.target,
        engine=outcome.engine,
        character_count=len(job.text),
        cached=outcome.cached,
        failed=False,
        latency_ms=latency_ms,
        create_time=started,
    )
    return Rows(usage=usage, history=history, event=event)


def _failure(attempt: Attempt, error: errors.VokaError) -> Rows:
    """A text that passed validation but failed: its usage row (no engine) and failed event."""
    job, owner, started, ended = attempt.job, attempt.owner, attempt.started, attempt.ended
    source = job.source or AUTO
    event = events_pb2.TranslationFailedEvent(
        owner=owner,
        source_language_code=source,
        target_language_code=job.target,
        character_count=len(job.text),
        status=error.to_status(),
        origin=job.origin,  # type: ignore[arg-type]
        fail_time=wellknown.timestamp(ended),
    )
    usage = UsageRecord(
        owner=owner,
        source_language_code=source,
        target_language_code=job.target,
        engine=0,
        character_count=len(job.text),
        cached=False,
        failed=True,
        latency_ms=(ended - started).total_seconds() * 1000,
        create_time=started,
    )
    return Rows(usage=usage, history=None, event=event)
