"""The service's worker threads: every decode and every local model runs here, never on the
event loop.

Overload is refused per image, not per model call: at most `workers + queue_size` images are in
progress (`admitted`), and one more is RESOURCE_EXHAUSTED at once. An admitted image's parts
(decode, detection and classification side by side, a crop per hand) then always find room in
the thread pool's queue (`voka.thread_pool`, sized for every admitted image's parts), so no
request is refused halfway by its own parallel parts. A call that takes longer than the
timeout is UNAVAILABLE for its caller, to try again (the thread finishes its work and only then
frees its slot, so a stuck model cannot be handed more than the pool holds).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

from voka import errors
from voka.thread_pool import BoundedThreadPool

T = TypeVar("T")
PARTS_PER_IMAGE = 4  # most worker calls one image has at once (a crop per hand, at most 4)


class Workers:
    """`workers` threads; `workers + queue_size` images in progress; `timeout` s per call."""

    def __init__(self, *, workers: int, queue_size: int, timeout: float) -> None:
        self.capacity = workers + queue_size
        self._pool = BoundedThreadPool(
            "vision", workers=workers, queue_size=self.capacity * PARTS_PER_IMAGE
        )
        self._timeout = timeout
        self._in_progress = 0

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """One image in progress for the block; RESOURCE_EXHAUSTED when the service is full."""
        if self._in_progress >= self.capacity:
            raise errors.resource_exhausted(
                f"the vision service is busy: {self._in_progress} images in progress, "
                f"{self.capacity} at most",
                retry_after=timedelta(seconds=1),
            )
        self._in_progress += 1
        try:
            yield
        finally:
            self._in_progress -= 1

    async def run(self, what: str, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in a worker; `what` names it when it runs out of time."""
        try:
            return await asyncio.wait_for(self._pool.run(fn, *args), self._timeout)
        except TimeoutError as exc:
            raise errors.unavailable(f"{what} took longer than {self._timeout:g} s") from exc

    def close(self) -> None:
        self._pool.close()
