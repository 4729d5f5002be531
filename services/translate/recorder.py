"""History, usage rows and events, written after the answer has gone.

The reply path only puts a record on a bounded in-memory queue; one background task writes
records in small transactions and then publishes their events. A failed write is retried with
backoff; what still cannot be written is logged with its count and counted in a metric, never
dropped silently. Reads of history and stats call `flush` first, so a caller reads its own
writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.translate import store
from voka.bus import Bus

log = logging.getLogger("voka.translate.recorder")

LOST = Counter(
    "voka_translate_records_lost", "History/usage records that could not be written.", ["reason"]
)
EVENTS_FAILED = Counter("voka_translate_events_failed", "Events that could not be published.")
WRITE_ATTEMPTS = 4
BATCH = 100


@dataclass(frozen=True)
class Record:
    """What one translated (or failed) text leaves behind."""

    usage: dict[str, Any]
    history: dict[str, Any] | None
    event: Message


class Recorder:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], bus: Bus | None, size: int = 10_000
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._queue: asyncio.Queue[Record] = asyncio.Queue(maxsize=size)
        self._task: asyncio.Task[None] | None = None

    def submit(self, record: Record) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._work(), name="translate-recorder")
        try:
            self._queue.put_nowait(record)
        except asyncio.QueueFull:
            LOST.labels("queue_full").inc()
            log.error(
                "history queue full: one translation record lost (owner %s)", record.usage["owner"]
            )

    async def flush(self, limit: float = 5.0) -> None:
        """Wait until every record submitted so far is written (bounded: reads never hang)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), limit)

    async def close(self) -> None:
        await self.flush()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _work(self) -> None:
        while True:
            records = [await self._queue.get()]
            while len(records) < BATCH and not self._queue.empty():
                records.append(self._queue.get_nowait())
            try:
                await self._write(records)
                await self._publish(records)
            finally:
                for _ in records:
                    self._queue.task_done()

    async def _write(self, records: list[Record]) -> None:
        history = [r.history for r in records if r.history is not None]
        usages = [r.usage for r in records]
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                async with self._sessions.begin() as session:
                    await store.add(session, history, usages)
                return
            except SQLAlchemyError:
                log.exception(
                    "writing %d translation records failed (attempt %d)", len(records), attempt
                )
                await asyncio.sleep(0.2 * 2**attempt)
        LOST.labels("write_failed").inc(len(records))
        log.error("%d translation records lost after %d attempts", len(records), WRITE_ATTEMPTS)

    async def _publish(self, records: list[Record]) -> None:
        if self._bus is None:
            return
        for record in records:
            try:
                await self._bus.publish(record.event)
            except Exception:  # events feed stats consumers; the history is already safe
                EVENTS_FAILED.inc()
                log.exception("publishing %s failed", record.event.DESCRIPTOR.name)
