"""History, usage rows and events, committed before the answer goes, many calls to a commit.

Why this design: what a translation leaves behind must outlive a crash and an overload. An
in-memory queue written after the answer cannot promise that (a full queue dropped records, and
a crash lost every record it held, for every user). A transaction of its own per call would
promise it at the price of one commit per call (its statements, the write lock on SQLite, a
round trip to PostgreSQL), whose translation takes tens of microseconds when cached. So calls
share commits (group commit): `record` adds the attempt's rows to the waiting batch and awaits
that batch's commit; one writer commits a batch at a time, and whatever arrives while it
commits is the next batch. Under load batches grow, so the commits per second stay bounded
while each call waits about one commit. The rows of a batch and its events
(`voka.translate.translation.completed`, `.failed`) are written in one transaction, the events
to the kit's outbox (`voka.outbox`, one statement for all), whose relay publishes them once
NATS takes them: a record and its event exist together or not at all.

* An answer goes only once its record is committed: when TranslateText returns, its entry is in
  the history, even if the process dies at once, and a caller reads its own writes without
  waiting for anything (the reads need no flush).
* Overload is refused, never dropped: with `limit` attempts already waiting, a call is refused
  RESOURCE_EXHAUSTED with a retry delay, and a batch that cannot be written (the database is
  down) fails its calls UNAVAILABLE; the caller retries either, and nothing was promised.
  Both are counted in `voka_translate_records_refused`.
* A call cancelled while it waits leaves its record in the batch: committed all the same.
* `erase` first waits for the records already on their way, so none of a deleted owner's comes
  back after the erasure; `close` refuses new records and commits those waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from google.protobuf.message import Message
from opentelemetry import context as otel_context
from prometheus_client import Counter
from sqlalchemy.exc import DataError, IntegrityError

from services.translate import convert
from services.translate.catalogue import AUTO
from services.translate.records import TranslationRecord, UsageRecord
from services.translate.store import TranslationStore
from services.translate.translator import Job, Outcome
from voka import errors, wellknown
from voka.translate.v1 import events_pb2

log = logging.getLogger("voka.translate.recorder")

REFUSED = Counter(
    "voka_translate_records_refused",
    "Translate calls refused because their record could not be committed, by reason: "
    "overload (too many waiting), unavailable (the database failed or the service stops).",
    ["reason"],
)
LIMIT = 10_000  # attempts waiting for a commit at most
BATCH = 500  # attempts per transaction at most (one statement per table)
RETRY_AFTER = timedelta(seconds=1)
FLUSH_SECONDS = 5.0


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


@dataclass(frozen=True)
class Waiting:
    """An attempt waiting for a commit: its rows, the trace of the call (its event joins
    that trace, not the writer's) and the future its caller awaits, done once committed."""

    rows: Rows
    trace: otel_context.Context
    committed: asyncio.Future[None]


class Recorder:
    """Commits attempts in shared transactions (see the module's docstring)."""

    def __init__(self, store: TranslationStore, limit: int = LIMIT, batch: int = BATCH) -> None:
        self._store = store
        self._limit = limit
        self._batch = batch
        self._waiting: list[Waiting] = []
        self._writing: list[Waiting] = []
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def record(self, attempt: Attempt) -> None:
        """Return once `attempt`'s rows and event are committed; RESOURCE_EXHAUSTED when too
        many wait already, UNAVAILABLE when they cannot be written."""
        if self._closed:
            REFUSED.labels("unavailable").inc()
            raise errors.unavailable("the translate service is stopping; try another replica")
        if len(self._waiting) + len(self._writing) >= self._limit:
            REFUSED.labels("overload").inc()
            raise errors.resource_exhausted(
                "too many translations wait for their history to be written", RETRY_AFTER
            )
        committed = asyncio.get_running_loop().create_future()
        self._waiting.append(Waiting(rows_of(attempt), otel_context.get_current(), committed))
        if self._writer is None:
            # In a context of its own: the writer serves every call, not the first one.
            self._writer = asyncio.create_task(
                self._write_batches(), name="translate-recorder", context=contextvars.Context()
            )
        self._wake.set()
        await committed

    async def flush(self, seconds: float = FLUSH_SECONDS) -> None:
        """Wait until every attempt recorded so far is committed or refused (bounded)."""
        on_their_way = [waiting.committed for waiting in (*self._writing, *self._waiting)]
        if on_their_way:
            await asyncio.wait(on_their_way, timeout=seconds)

    async def erase(self, owner: str) -> int:
        """Everything kept for a deleted account; the rows removed."""
        await self.flush()
        return await self._store.erase_owner(owner)

    async def close(self) -> None:
        """Refuse new attempts, commit the waiting ones, stop the writer."""
        self._closed = True
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer

    async def _write_batches(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                self._writing = self._waiting[: self._batch]
                del self._waiting[: self._batch]
                try:
                    await self._write(self._writing)
                finally:
                    self._writing = []

    async def _write(self, batch: list[Waiting]) -> None:
        """One transaction for the batch (`TranslationStore.add` reruns one that lost a race);
        then every caller of the batch learns the outcome. A batch that one bad record spoils
        (a constraint or a value the database refuses) is written again one record at a time,
        so that record fails its own call only."""
        try:
            await self._store.add(
                [one.rows.history for one in batch if one.rows.history is not None],
                [one.rows.usage for one in batch],
                [(one.rows.event, one.trace) for one in batch],
            )
        except Exception as exc:
            if isinstance(exc, DataError | IntegrityError) and len(batch) > 1:
                for one in batch:
                    await self._write([one])
            else:
                self._refuse(batch)
            return
        for one in batch:
            if not one.committed.done():  # its caller may have gone (cancelled): no one to tell
                one.committed.set_result(None)

    @staticmethod
    def _refuse(batch: list[Waiting]) -> None:
        log.exception("writing %d translation records failed", len(batch))
        REFUSED.labels("unavailable").inc(len(batch))
        for one in batch:
            if not one.committed.done():
                one.committed.set_exception(
                    errors.unavailable("the translation history could not be written; retry")
                )


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
