"""Transcription jobs in the database, the truth about every job (events only announce it).

Every state change is one conditional UPDATE (on the expected state and, for a worker's writes,
on its attempt number), so a worker that was given up on, a repeated delivery or a cancel racing
a finish change nothing: the first writer wins and the others see no row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from google.rpc import code_pb2, status_pb2
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.speech.records import (
    ACTIVE_STATES,
    FINAL_STATES,
    TranscriptionRecord,
    newest_first,
    page_rows,
    transcriptions,
)
from voka import pagination
from voka.pagination import Listing, Page
from voka.speech.v1 import speech_pb2

columns = transcriptions.c
QUEUED = speech_pb2.TRANSCRIPTION_STATE_QUEUED
RUNNING = speech_pb2.TRANSCRIPTION_STATE_RUNNING
SUCCEEDED = speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED
FAILED = speech_pb2.TRANSCRIPTION_STATE_FAILED
CANCELLED = speech_pb2.TRANSCRIPTION_STATE_CANCELLED
REQUEST_ID_WINDOW = timedelta(hours=24)
NEWEST_FIRST: pagination.Order[TranscriptionRecord] = newest_first(transcriptions)


@dataclass(frozen=True)
class NewTranscription:
    """A validated, stored upload ready to insert as a QUEUED job."""

    id: str
    owner: str
    config: speech_pb2.RecognitionConfig
    file_name: str
    external_reference: str
    request_id: str | None
    content_type: str
    size_bytes: int
    sha256: str
    audio_path: str
    create_time: datetime
    actor: str = ""  # the service that asked on the owner's behalf

    def row(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "config": self.config.SerializeToString(),
            "state": QUEUED,
            "audio_seconds": None,
            "progress_percent": 0,
            "processed_seconds": 0.0,
            "attempts": 0,
            "cancel_requested": False,
            "worker": "",
            "update_time": self.create_time,
        }


@dataclass(frozen=True)
class TranscriptionFilter:
    """ListTranscriptions filters; `owner` None means every owner (admins)."""

    owner: str | None
    state: int = 0
    external_reference: str = ""

    def where(self) -> list[sa.ColumnElement[bool]]:
        clauses: list[sa.ColumnElement[bool]] = []
        if self.owner is not None:
            clauses.append(columns.owner == self.owner)
        if self.state:
            clauses.append(columns.state == self.state)
        if self.external_reference:
            clauses.append(columns.external_reference == self.external_reference)
        return clauses


def _error(code: int, message: str) -> bytes:
    return status_pb2.Status(code=code, message=message).SerializeToString()


class TranscriptionStore:
    """The transcription table, through the service's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, new: NewTranscription) -> tuple[TranscriptionRecord, bool]:
        """Insert the job; with a request id already used by the owner in the last 24 hours,
        the earlier job comes back with True (deduplicated) and nothing is inserted. The
        insert skips conflicts instead of reading first, so SQLite's write lock is taken
        before any read (a read-then-write transaction can fail when a writer got in)."""
        async with self._sessions() as session, session.begin():
            if new.request_id:
                await self._forget_old_request_id(session, new)
            dialect = session.get_bind().dialect.name
            insert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(transcriptions)
            conflict = [columns.owner, columns.request_id]
            await session.execute(insert.on_conflict_do_nothing(index_elements=conflict), new.row())
            mine = await _one(session, columns.id == new.id)
            if mine is not None:
                return mine, False
            earlier = await _one(
                session, columns.owner == new.owner, columns.request_id == new.request_id
            )
        if earlier is None:
            raise RuntimeError(f"transcription {new.id} neither inserted nor deduplicated")
        return earlier, True

    @staticmethod
    async def _forget_old_request_id(session: AsyncSession, new: NewTranscription) -> None:
        """AIP-155 keys live 24 hours: an older job keeps its data but frees its key."""
        stale = new.create_time - REQUEST_ID_WINDOW
        await session.execute(
            sa.update(transcriptions)
            .where(columns.owner == new.owner, columns.request_id == new.request_id)
            .where(columns.create_time < stale)
            .values(request_id=None)
        )

    async def get(self, job_id: str) -> TranscriptionRecord | None:
        async with self._sessions() as session:
            return await _one(session, columns.id == job_id)

    async def page(self, matching: TranscriptionFilter, page: Page) -> Listing[TranscriptionRecord]:
        """A page newest first, whether more follow, and the total matching."""
        async with self._sessions() as session:
            rows, total, more = await page_rows(
                session, transcriptions, NEWEST_FIRST, matching.where(), page
            )
        return Listing([TranscriptionRecord.from_row(r) for r in rows], more, total)

    async def start(self, job_id: str, worker: str, now: datetime) -> TranscriptionRecord | None:
        """A worker begins an attempt: QUEUED, or RUNNING when the last worker died."""
        return await self._update(
            [columns.id == job_id, columns.state.in_(ACTIVE_STATES)],
            state=RUNNING, attempts=columns.attempts + 1, worker=worker,
            start_time=now, progress_percent=0, processed_seconds=0.0, update_time=now,
        )  # fmt: skip

    async def progress(
        self, job_id: str, attempt: int, processed: float, total: float, now: datetime
    ) -> TranscriptionRecord | None:
        """Audio transcribed so far by the running attempt (0 at its start, once decoded)."""
        percent = min(99, int(100 * processed / total)) if total > 0 else 0
        return await self._update(
            _running(job_id, attempt),
            progress_percent=percent, processed_seconds=processed, audio_seconds=total,
            update_time=now,
        )  # fmt: skip

    async def succeed(
        self, job_id: str, attempt: int, result: speech_pb2.TranscriptionResult, now: datetime
    ) -> TranscriptionRecord | None:
        seconds = result.duration.ToTimedelta().total_seconds()
        return await self._update(
            _running(job_id, attempt),
            state=SUCCEEDED, result=result.SerializeToString(), error=None,
            progress_percent=100, processed_seconds=seconds, audio_seconds=seconds,
            end_time=now, update_time=now,
        )  # fmt: skip

    async def fail(
        self, job_id: str, attempt: int, code: int, message: str, now: datetime
    ) -> TranscriptionRecord | None:
        return await self._update(
            _running(job_id, attempt),
            state=FAILED, error=_error(code, message),
            end_time=now, update_time=now,
        )  # fmt: skip

    async def stop_cancelled(
        self, job_id: str, attempt: int, reason: str, now: datetime
    ) -> TranscriptionRecord | None:
        """The worker stopped a job whose cancel was asked while it ran."""
        return await self._update(
            [*_running(job_id, attempt), columns.cancel_requested.is_(True)],
            state=CANCELLED, end_time=now, update_time=now,
            error=_error(code_pb2.CANCELLED, reason),
        )  # fmt: skip

    async def cancel(self, job_id: str, reason: str, now: datetime) -> TranscriptionRecord | None:
        """QUEUED: CANCELLED now. RUNNING: `cancel_requested`, the worker stops it. Final or
        gone: None."""
        queued = await self._update(
            [columns.id == job_id, columns.state == QUEUED],
            state=CANCELLED, error=_error(code_pb2.CANCELLED, reason),
            end_time=now, update_time=now,
        )  # fmt: skip
        if queued is not None:
            return queued
        return await self._update(
            [columns.id == job_id, columns.state == RUNNING],
            cancel_requested=True, error=_error(code_pb2.CANCELLED, reason), update_time=now,
        )  # fmt: skip

    async def abandon(self, job_id: str, message: str, now: datetime) -> None:
        """A QUEUED job whose request event could not be published fails (UNAVAILABLE)."""
        await self._update(
            [columns.id == job_id, columns.state == QUEUED],
            state=FAILED, error=_error(code_pb2.UNAVAILABLE, message),
            end_time=now, update_time=now,
        )  # fmt: skip

    async def delete(self, job_id: str) -> str | None:
        """Remove a finished job; its audio path, or None when it is not final (or gone)."""
        statement = (
            sa.delete(transcriptions)
            .where(columns.id == job_id, columns.state.in_(FINAL_STATES))
            .returning(columns.audio_path)
        )
        async with self._sessions() as session, session.begin():
            return (await session.execute(statement)).scalar_one_or_none()

    async def erase_owner(self, owner: str) -> list[str]:
        """Remove every job of `owner`, whatever its state (a running one's worker then finds
        no row to update); their audio paths."""
        statement = (
            sa.delete(transcriptions).where(columns.owner == owner).returning(columns.audio_path)
        )
        async with self._sessions() as session, session.begin():
            return list((await session.execute(statement)).scalars())

    async def _update(
        self, where: list[sa.ColumnElement[bool]], **values: Any
    ) -> TranscriptionRecord | None:
        statement = sa.update(transcriptions).where(*where).values(**values).returning(*columns)
        async with self._sessions() as session, session.begin():
            row = (await session.execute(statement)).first()
        return None if row is None else TranscriptionRecord.from_row(row)


def _running(job_id: str, attempt: int) -> list[sa.ColumnElement[bool]]:
    return [columns.id == job_id, columns.state == RUNNING, columns.attempts == attempt]


async def _one(session: AsyncSession, *where: sa.ColumnElement[bool]) -> TranscriptionRecord | None:
    row = (await session.execute(sa.select(transcriptions).where(*where))).first()
    return None if row is None else TranscriptionRecord.from_row(row)
