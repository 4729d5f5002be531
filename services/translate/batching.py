"""Dynamic batching per model, a bounded queue in front of each, and the result cache.

Segments for the same model that arrive within `window` seconds of each other are translated in
one engine call, sorted by length so padding is small. Each model has one worker, so a model
runs one batch at a time; inference runs in a thread pool, never on the event loop. A full queue
refuses new work at once (RESOURCE_EXHAUSTED) instead of letting latency grow without limit.

The cache serves everyone (a sentence translated once costs nothing again, whoever asks), but
an answer says `cached` only to an owner the entry was given to before: telling anyone else
would reveal that someone translated that text.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import Counter, Histogram

from services.translate.engines.base import Engine
from voka import errors

BATCH_SIZE = Histogram(
    "voka_translate_batch_size",
    "Segments per engine call, by model.",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
CACHE = Counter("voka_translate_cache", "Result cache lookups, by outcome.", ["outcome"])
REJECTED = Counter("voka_translate_rejected", "Segments refused by a full model queue.", ["model"])


# Owners remembered per entry; those beyond are served alike, only never told `cached`.
OWNERS_PER_ENTRY = 8


@dataclass
class _Entry:
    translation: str
    owners: set[str]  # who has been given it


class ResultCache:
    """Translations by (model, text), least recently used dropped beyond `size`."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()

    def get(self, model: str, text: str, owner: str) -> tuple[str, bool] | None:
        """The translation, and whether `owner` was given it before (now it has been)."""
        found = self._entries.get((model, text))
        CACHE.labels("hit" if found is not None else "miss").inc()
        if found is None:
            return None
        self._entries.move_to_end((model, text))
        told = owner in found.owners
        if not told and len(found.owners) < OWNERS_PER_ENTRY:
            found.owners.add(owner)
        return found.translation, told

    def put(self, model: str, text: str, translation: str, owner: str) -> None:
        self._entries[(model, text)] = _Entry(translation, {owner})
        self._entries.move_to_end((model, text))
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)


@dataclass
class _Item:
    text: str
    future: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _ModelQueue:
    """The queue and worker of one model (one engine, one pair)."""

    def __init__(self, batcher: Batcher, engine: Engine, source: str, target: str) -> None:
        self._b = batcher
        self._engine, self._source, self._target = engine, source, target
        self.model = engine.model_id(source, target)
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=batcher.queue_size)
        self.worker = asyncio.create_task(self._work(), name=f"translate-batch {self.model}")

    def room(self) -> int:
        return self.queue.maxsize - self.queue.qsize()

    async def _work(self) -> None:
        while True:
            items = [await self.queue.get()]
            if self.queue.qsize() + 1 < self._b.max_batch:
                await asyncio.sleep(self._b.window)  # let concurrent requests join
            while len(items) < self._b.max_batch and not self.queue.empty():
                items.append(self.queue.get_nowait())
            await self._run([i for i in items if not i.future.done()])

    async def _run(self, items: list[_Item]) -> None:
        if not items:
            return
        items.sort(key=lambda item: len(item.text))
        BATCH_SIZE.labels(self.model).observe(len(items))
        loop = asyncio.get_running_loop()
        texts = [item.text for item in items]
        try:
            out = await loop.run_in_executor(
                self._b.executor, self._engine.translate, self._source, self._target, texts
            )
        except Exception as exc:  # the engine's failure is each waiting caller's failure
            for item in items:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        for item, translation in zip(items, out, strict=True):
            if not item.future.done():
                item.future.set_result(translation)


class Batcher:
    """Translates segments through per-model queues, answering repeated ones from the cache."""

    def __init__(
        self,
        executor: Executor,
        *,
        window: float,
        max_batch: int,
        queue_size: int,
        cache_size: int,
    ) -> None:
        self.executor = executor
        self.window, self.max_batch, self.queue_size = window, max_batch, queue_size
        self.cache = ResultCache(cache_size)
        self._queues: dict[tuple[int, str, str], _ModelQueue] = {}

    async def translate(
        self, engine: Engine, source: str, target: str, texts: Sequence[str], owner: str = ""
    ) -> tuple[list[str], bool]:
        """Translations of `texts` in order, and whether all came from the cache entries
        `owner` was given before."""
        queue = self._queue(engine, source, target)
        found = [self.cache.get(queue.model, t, owner) for t in texts]
        results = [hit[0] if hit else "" for hit in found]
        misses = [i for i, hit in enumerate(found) if hit is None]
        if len(misses) > queue.room():  # all or nothing: never half-queue one request
            REJECTED.labels(queue.model).inc(len(misses))
            raise errors.resource_exhausted(
                f"{queue.model} is overloaded ({queue.queue.maxsize} segments queued); retry later",
                retry_after=timedelta(seconds=1),
            )
        items = [_Item(texts[i]) for i in misses]
        for item in items:
            queue.queue.put_nowait(item)
        for i, item in zip(misses, items, strict=True):
            results[i] = await item.future
            self.cache.put(queue.model, texts[i], results[i], owner)
        return results, all(hit is not None and hit[1] for hit in found)

    def _queue(self, engine: Engine, source: str, target: str) -> _ModelQueue:
        key = (engine.kind, source, target)
        if key not in self._queues:
            self._queues[key] = _ModelQueue(self, engine, source, target)
        return self._queues[key]

    async def close(self) -> None:
        for queue in self._queues.values():
            queue.worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await queue.worker
        self._queues.clear()
