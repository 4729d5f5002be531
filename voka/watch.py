"""The watch-stream loop every Watch RPC shares: the record now, then each change, until final.

The database has the truth; events only wake the loop. A hint that concerns the record (from
any replica, through `Bus.listen`) ends the wait at once, and a slow poll covers a lost one, so
a lost hint delays a change by at most `poll_seconds` but never hides it. Hints are a flag,
not a queue: a burst of them costs one re-read and no memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from nats.aio.msg import Msg

from voka.bus import Bus

R = TypeVar("R")
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Watched(Generic[R]):
    """How to follow one record: re-read it (None: gone), what counts as a change, when to stop."""

    read: Callable[[], Awaitable[R | None]]
    version: Callable[[R], Hashable]
    final: Callable[[R], bool]


async def changes(
    bus: Bus,
    subjects: str,
    concerns: Callable[[Msg], bool],
    watched: Watched[R],
    *,
    poll_seconds: float = POLL_SECONDS,
) -> AsyncIterator[R]:
    """The record now, then every change of its version, until it is final or gone. Messages
    on `subjects` for which `concerns` is true wake the loop; a message it cannot judge (an
    unparsable payload) is treated as not concerning it."""
    wake = asyncio.Event()

    async def on_message(msg: Msg) -> None:
        with contextlib.suppress(Exception):
            if concerns(msg):
                wake.set()

    async with await bus.listen(subjects, on_message):
        seen: Hashable | None = None
        first = True
        while (record := await watched.read()) is not None:
            version = watched.version(record)
            if first or version != seen:
                first, seen = False, version
                yield record
            if watched.final(record):
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_seconds):
                    await wake.wait()
            wake.clear()
