"""The speech service's tables and their rows as plain records (the stores' vocabulary).

Results, errors and recognition options are stored as serialized protobuf messages: they are
the contract's own shapes, read back whole and never queried by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import sqlalchemy as sa
from google.rpc import status_pb2
from sqlalchemy.ext.asyncio import AsyncSession

from voka import pagination
from voka.speech.v1 import speech_pb2
from voka.wellknown import utc

TranscriptionState: TypeAlias = speech_pb2.TranscriptionState.ValueType
metadata = sa.MetaData()

# Mirrors migrations/versions/0001_speech.py; the migration is what creates them.
transcriptions = sa.Table(
    "speech_transcriptions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("state", sa.Integer(), nullable=False),
    sa.Column("config", sa.LargeBinary(), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("external_reference", sa.String(512), nullable=False),
    sa.Column("request_id", sa.String(128)),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("audio_path", sa.Text(), nullable=False),
    sa.Column("audio_seconds", sa.Float()),
    sa.Column("progress_percent", sa.Integer(), nullable=False),
    sa.Column("processed_seconds", sa.Float(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("cancel_requested", sa.Boolean(), nullable=False),
    sa.Column("result", sa.LargeBinary()),
    sa.Column("error", sa.LargeBinary()),
    sa.Column("worker", sa.String(200), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True)),
    sa.Column("end_time", sa.DateTime(timezone=True)),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),  # added by 0002_text_entries.py
)

voice_samples = sa.Table(
    "speech_voice_samples",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("language", sa.String(35), nullable=False),
    sa.Column("description", sa.String(1000), nullable=False),
    sa.Column("file_name", sa.String(255), nullable=False),
    sa.Column("content_type", sa.String(100), nullable=False),
    sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("duration_seconds", sa.Float(), nullable=False),
    sa.Column("sample_rate", sa.Integer(), nullable=False),
    sa.Column("channel_count", sa.Integer(), nullable=False),
    sa.Column("path", sa.Text(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

FINAL_STATES = frozenset({
    speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED,
    speech_pb2.TRANSCRIPTION_STATE_FAILED,
    speech_pb2.TRANSCRIPTION_STATE_CANCELLED,
})  # fmt: skip
ACTIVE_STATES = frozenset(
    {speech_pb2.TRANSCRIPTION_STATE_QUEUED, speech_pb2.TRANSCRIPTION_STATE_RUNNING}
)


def row_values(row: sa.Row[Any]) -> dict[str, Any]:
    """The row as a dict, datetimes in UTC (SQLite hands them back naive)."""
    values = dict(row._mapping)
    return {k: utc(v) if isinstance(v, datetime) else v for k, v in values.items()}


@dataclass(frozen=True)
class TranscriptionRecord:
    """One row of `speech_transcriptions`, with its protobuf columns parsed."""

    id: str
    owner: str
    state: TranscriptionState
    config: speech_pb2.RecognitionConfig
    file_name: str
    external_reference: str
    request_id: str | None
    content_type: str
    size_bytes: int
    sha256: str
    audio_path: str
    audio_seconds: float | None
    progress_percent: int
    processed_seconds: float
    attempts: int
    cancel_requested: bool
    result: speech_pb2.TranscriptionResult | None
    error: status_pb2.Status | None
    worker: str
    create_time: datetime
    start_time: datetime | None
    end_time: datetime | None
    update_time: datetime
    actor: str  # the service that asked on the owner's behalf; "" when the owner asked

    @property
    def name(self) -> str:
        return f"transcriptions/{self.id}"

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> TranscriptionRecord:
        values = row_values(row)
        values["config"] = speech_pb2.RecognitionConfig.FromString(values["config"])
        raw_result, raw_error = values["result"], values["error"]
        values["result"] = (
            None if raw_result is None else speech_pb2.TranscriptionResult.FromString(raw_result)
        )
        values["error"] = None if raw_error is None else status_pb2.Status.FromString(raw_error)
        return cls(**values)


@dataclass(frozen=True)
class VoiceSampleRecord:
    """One row of `speech_voice_samples`."""

    id: str
    owner: str
    display_name: str
    language: str
    description: str
    file_name: str
    content_type: str
    size_bytes: int
    sha256: str
    duration_seconds: float
    sample_rate: int
    channel_count: int
    path: str
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return f"samples/{self.id}"

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> VoiceSampleRecord:
        return cls(**row_values(row))


def newest_first(table: sa.Table) -> pagination.Order[Any]:
    """The order of every speech List: newest first by (create_time, id)."""
    return pagination.Order(
        table.c.create_time, table.c.id, descending=True, kind="datetime",
        value=lambda record: record.create_time,
    )  # fmt: skip


async def page_rows(
    session: AsyncSession,
    table: sa.Table,
    order: pagination.Order[Any],
    where: list[sa.ColumnElement[bool]],
    page: pagination.Page,
) -> tuple[list[sa.Row[Any]], int, bool]:
    """One keyset page of `table` in `order`, strictly after the page's cursor; the rows, the
    total matching `where`, and whether more follow."""
    select = sa.select(table).where(*where).order_by(*order.clauses())
    if page.cursor is not None:
        select = select.where(order.after(page.cursor))
    rows = list((await session.execute(select.limit(page.size + 1))).all())
    total = await session.scalar(sa.select(sa.func.count()).select_from(table).where(*where))
    return rows[: page.size], int(total or 0), len(rows) > page.size
