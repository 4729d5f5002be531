"""Passage vectors: the embedding of every searchable passage, its table and its writes.

A row is keyed by the passage's source ("segment", "summary", "meeting", "project", "client",
"chat") and its ref in that source (the row id; a segment's `recording/position`), and
references that source row with ON DELETE CASCADE: deleting content deletes its vectors in the
same transaction. `source_time` is the source's update time when its text was read, so a
changed source reads as stale (`SearchStore.stale`) and is embedded again; `id` is new with
every write, so the service's cache of decoded vectors (`chat.vector_cache`) never serves an
old one.

Vectors are unit-length float32, stored as bytes (`encode`): the same column on SQLite and
PostgreSQL, scored in numpy. A PostgreSQL server that offers pgvector is recognised
(`VectorStore.pgvector_available`) and said at start, but not used: no server here has the
extension, and a `vector` column and scan no test could run are not kept (docs/meetings.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.meetings.chat.passages import Passage
from services.meetings.schema import metadata, new_id

# Mirrors migrations/versions/0004_passage_vectors.py; the migration is what creates it.
passage_vectors = sa.Table(
    "meetings_passage_vectors",
    metadata,
    sa.Column("source", sa.String(16), primary_key=True),
    sa.Column("ref", sa.String(80), primary_key=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("meeting_id", sa.String(32), sa.ForeignKey("meetings_meetings.id"), nullable=True),
    sa.Column("recording_id", sa.String(32), nullable=True),
    sa.Column("position", sa.Integer(), nullable=True),
    sa.Column("project_id", sa.String(32), sa.ForeignKey("meetings_projects.id"), nullable=True),
    sa.Column("client_id", sa.String(32), sa.ForeignKey("meetings_clients.id"), nullable=True),
    sa.Column("chat_id", sa.String(32), sa.ForeignKey("meetings_chat_messages.id"), nullable=True),
    sa.Column("source_time", sa.DateTime(timezone=True), nullable=True),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("vector", sa.LargeBinary(), nullable=False),
)

Ref = tuple[str, str]  # (source, ref): one passage


@dataclass(frozen=True)
class Pending:
    """A passage whose vector is missing or stale: its text and the source time read with it."""

    ref: Ref
    passage: Passage
    source_time: datetime | None


def encode(vector: Sequence[float] | np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def decode(blobs: Sequence[bytes]) -> np.ndarray:
    """Stored vectors as one (n, dimensions) matrix."""
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), -1)


_REFERENCES = dict.fromkeys(
    ("meeting_id", "recording_id", "position", "project_id", "client_id", "chat_id")
)


def _columns(pending: Pending) -> dict[str, object]:
    """The source row a vector references (its cascade), from the passage; every reference
    column is given, so rows of several sources insert in one statement."""
    (source, ref), passage = pending.ref, pending.passage
    if source == "segment":
        recording, position = ref.split("/")
        return _REFERENCES | {"meeting_id": passage.meeting_id, "recording_id": recording,
                              "position": int(position)}  # fmt: skip
    column = {"summary": "meeting_id", "meeting": "meeting_id", "project": "project_id",
              "client": "client_id", "chat": "chat_id"}[source]  # fmt: skip
    return _REFERENCES | {column: ref}


class VectorStore:
    """Writes of passage vectors within one transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def put(self, pending: Sequence[Pending], vectors: Sequence[bytes], model: str) -> None:
        """Replaces the vectors of these passages (several indexers may race: the primary key
        keeps one row per passage, and the loser's transaction rolls back)."""
        await self.delete([p.ref for p in pending])
        rows = [
            {"source": p.ref[0], "ref": p.ref[1], "id": new_id(), "source_time": p.source_time,
             "model": model, "vector": vector, **_columns(p)}
            for p, vector in zip(pending, vectors, strict=True)
        ]  # fmt: skip
        if rows:
            await self._session.execute(sa.insert(passage_vectors), rows)

    async def pgvector_available(self) -> bool:
        """Whether the server offers pgvector's `vector` type: PostgreSQL with the extension
        installed (`pg_available_extensions`, created in this database or not); never SQLite."""
        if self._session.get_bind().dialect.name != "postgresql":
            return False
        offered = sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        return (await self._session.execute(offered)).first() is not None

    async def delete(self, refs: Sequence[Ref]) -> None:
        if refs:
            key = sa.tuple_(passage_vectors.c.source, passage_vectors.c.ref)
            await self._session.execute(sa.delete(passage_vectors).where(key.in_(list(refs))))
