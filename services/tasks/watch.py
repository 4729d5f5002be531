"""WatchTask's source of changes: the lifecycle events on NATS, whichever replica published
them, each followed by a read of the task (the database has the truth; events are hints).
A slow poll backs the events up, so a lost hint delays a change but never hides it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from nats.aio.msg import Msg

from services.tasks.events import LIFECYCLE_SUBJECTS, LIFECYCLE_TYPES
from services.tasks.records import TaskRecord
from services.tasks.store import Store
from voka.bus import EVENT_TYPE, Bus

POLL_SECONDS = 1.0


async def changes(bus: Bus, store: Store, task_id: str) -> AsyncIterator[TaskRecord]:
    """The task now, then each time its state or attempt changes, until a final state."""
    hints: asyncio.Queue[None] = asyncio.Queue()
    name = f"tasks/{task_id}"

    async def on_event(msg: Msg) -> None:
        kind = LIFECYCLE_TYPES.get((msg.headers or {}).get(EVENT_TYPE, ""))
        if kind is not None and getattr(kind.FromString(msg.data), "task", "") == name:
            hints.put_nowait(None)

    subscription = await bus.nc.subscribe(LIFECYCLE_SUBJECTS, cb=on_event)
    try:
        seen: tuple[int, int, str] | None = None
        while True:
            record = await store.get(task_id)
            if record is None:
                return
            version = (record.state, record.attempts, record.worker)
            if version != seen:
                seen = version
                yield record
            if record.final:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await hints.get()
    finally:
        await subscription.unsubscribe()
