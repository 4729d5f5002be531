"""Memory records as the contract's messages."""

from __future__ import annotations

from services.assistant.memory.records import MemoryRecord
from voka import wellknown
from voka.assistant.v1 import assistant_pb2


def memory(record: MemoryRecord) -> assistant_pb2.Memory:
    return assistant_pb2.Memory(
        name=record.name,
        owner=record.owner,
        content=record.content,
        kind=record.kind,
        source=record.source,
        conversation=record.conversation,
        create_time=wellknown.timestamp(record.create_time),
        update_time=wellknown.timestamp(record.update_time),
    )
