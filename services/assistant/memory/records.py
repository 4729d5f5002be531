"""The memories table: one row per memory, its vector beside it (float32 bytes), so deleting the
row deletes the vector with it: there is no second index to forget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from services.assistant.records import metadata
from voka.assistant.v1 import assistant_pb2
from voka.wellknown import utc

memories = sa.Table(
    "assistant_memories",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False, index=True),
    sa.Column("content", sa.Text(), nullable=False),
    sa.Column("kind", sa.Integer(), nullable=False),
    sa.Column("slot", sa.String(40)),  # what a single-valued fact is about: name, home, work
    sa.Column("source", sa.String(40), nullable=False),
    sa.Column("conversation", sa.String(80), nullable=False),
    sa.Column("vector", sa.LargeBinary(), nullable=False),  # float32, unit length
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

Kind: TypeAlias = assistant_pb2.MemoryKind.ValueType
Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class MemoryRecord:
    """One row of `assistant_memories`, the vector decoded."""

    id: str
    owner: str
    content: str
    kind: Kind
    slot: str | None
    source: str
    conversation: str
    vector: Vector
    create_time: datetime
    update_time: datetime

    @property
    def name(self) -> str:
        return f"memories/{self.id}"

    @classmethod
    def from_row(cls, row: Any) -> MemoryRecord:
        values = dict(row._mapping)
        values["vector"] = np.frombuffer(values["vector"], dtype=np.float32)
        values["create_time"] = utc(values["create_time"])
        values["update_time"] = utc(values["update_time"])
        return cls(**values)

    def row(self) -> dict[str, Any]:
        values = dict(self.__dict__)
        values["vector"] = self.vector.astype(np.float32).tobytes()
        return values
