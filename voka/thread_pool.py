"""A thread pool that refuses work beyond its queue instead of buffering it without limit.

Inference (recognition, synthesis, image analysis) is CPU-bound and slow; the event loop hands
it to these threads. When every worker is busy and the queue is full, the caller gets
RESOURCE_EXHAUSTED at once (with a retry hint), which is what the contract promises under
overload.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

from voka.errors import resource_exhausted

T = TypeVar("T")


class BoundedThreadPool:
    """`workers` threads and at most `queue_size` calls waiting for one."""

    def __init__(self, name: str, *, workers: int, queue_size: int) -> None:
        self.name = name
        self._executor = ThreadPoolExecutor(max(1, workers), thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(max(1, workers) + max(0, queue_size))

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in a worker thread; RESOURCE_EXHAUSTED when the queue is full.

        The slot is given back when the work really ends, not when the caller stops waiting,
        so a cancelled caller cannot make room for more work than the threads can do.
        """
        if not self._slots.acquire(blocking=False):
            raise resource_exhausted(
                f"{self.name} is busy: every worker is taken and the queue is full",
                retry_after=timedelta(seconds=1),
            )
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Drop queued work and stop taking more; running work finishes in its thread."""
        self._executor.shutdown(wait=False, cancel_futures=True)
