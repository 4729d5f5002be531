"""The scheduler's in-memory ready queues and their ordering (the aging rule): pure,
synchronous, driven by the caller's clock, so the order can be proven on its own
(`test_ready_queues.py`) apart from the scheduler's I/O.

One queue per (shard, worker type, priority) holds ready tasks in the order they became ready;
a timer heap holds tasks whose time has not come (not-before, retry backoff). The database is
the source of truth; these queues are rebuilt from it when a replica takes a shard.

**Aging rule.** A ready task's effective level is

    effective = max(CRITICAL, priority - floor(waited / aging_step))

where `priority` is its level (CRITICAL=1 ... BACKGROUND=5) and `waited` the seconds since it
became ready. `take` hands out the task with the lowest effective level; ties go to the task
that became ready first, then to the higher base priority. So a BACKGROUND task waits at most
`4 * aging_step` before it competes with CRITICAL work as an equal, and among equals it is the
oldest: under any flood it is served within `(priority - 1) * aging_step` plus the time to
serve what was ready before it.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.tasks.changes import Handout

CRITICAL = 1
BACKGROUND = 5
PRIORITIES = range(CRITICAL, BACKGROUND + 1)

QueueKey = tuple[int, int, int]  # shard, worker type, priority
Entry = tuple[float, int, str]  # ready_at, sequence, task id


@dataclass(frozen=True)
class Item:
    """A task as the queues see it."""

    task_id: str
    shard: int
    worker_type: int
    priority: int
    ready_at: float  # when it may start (its not-before or retry time, or its submit)
    handout: Handout | None = field(default=None, compare=False)  # kept for the hand-out

    @property
    def key(self) -> QueueKey:
        return (self.shard, self.worker_type, self.priority)


@dataclass(frozen=True)
class Depth:
    """Ready tasks in one queue and how long the oldest has waited."""

    shard: int
    worker_type: int
    priority: int
    count: int
    oldest_wait: float


def effective_level(priority: int, ready_at: float, now: float, aging_step: float) -> int:
    """The aging rule (see the module docstring)."""
    waited = max(0.0, now - ready_at)
    return max(CRITICAL, priority - int(waited // aging_step))


class ReadyQueues:
    """Every queue of the shards one replica owns, with pause switches per shard and type."""

    def __init__(self, aging_step: float) -> None:
        if aging_step <= 0:
            raise ValueError("aging_step must be positive")
        self.aging_step = aging_step
        self._queues: dict[QueueKey, list[Entry]] = {}
        self._counts: dict[QueueKey, int] = {}
        self._delayed: list[Entry] = []
        self._live: dict[str, tuple[Item, int, bool]] = {}  # id -> item, sequence, is ready
        self._sequence = itertools.count()
        self.paused_shards: set[int] = set()
        self.paused_types: set[int] = set()

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, task_id: object) -> bool:
        return task_id in self._live

    def add(self, item: Item, now: float) -> bool:
        """Queue `item` (replacing an older entry of the same task); True if it is ready now,
        False if it waits in the timer heap for its `ready_at`."""
        self.remove(item.task_id)
        sequence = next(self._sequence)
        ready = item.ready_at <= now
        self._live[item.task_id] = (item, sequence, ready)
        entry = (item.ready_at, sequence, item.task_id)
        if ready:
            heapq.heappush(self._queues.setdefault(item.key, []), entry)
            self._counts[item.key] = self._counts.get(item.key, 0) + 1
        else:
            heapq.heappush(self._delayed, entry)
        return ready

    def remove(self, task_id: str) -> bool:
        """Forget a task (cancelled, or moved to another replica); its heap entries die lazily."""
        found = self._live.pop(task_id, None)
        if found is None:
            return False
        item, _, ready = found
        if ready:
            self._counts[item.key] -= 1
        return True

    def drop_shard(self, shard: int) -> int:
        """Forget every task of a shard (it moved to another replica); returns how many."""
        gone = [task_id for task_id, (item, _, _) in self._live.items() if item.shard == shard]
        for task_id in gone:
            self.remove(task_id)
        return len(gone)

    def promote(self, now: float) -> list[Item]:
        """Move every delayed task whose time has come into its ready queue; returns them."""
        promoted = []
        while self._delayed and self._delayed[0][0] <= now:
            _, sequence, task_id = heapq.heappop(self._delayed)
            found = self._live.get(task_id)
            if found is None or found[1] != sequence:
                continue
            self.add(found[0], now)
            promoted.append(found[0])
        return promoted

    def next_due(self) -> float | None:
        """When the earliest delayed task becomes ready (may be a dead entry: harmless)."""
        return self._delayed[0][0] if self._delayed else None

    def ready_count(self, worker_type: int) -> int:
        """Ready tasks of one worker type (paused shards included)."""
        return sum(count for key, count in self._counts.items() if key[1] == worker_type)

    def take(self, worker_type: int, now: float, limit: int) -> list[Item]:
        """Up to `limit` ready tasks of `worker_type`, best first by the aging rule, skipping
        paused shards; none while the worker type is paused."""
        if worker_type in self.paused_types:
            return []
        keys = [
            k
            for k in self._queues
            if k[1] == worker_type and k[0] not in self.paused_shards and self._counts.get(k)
        ]
        # Within one take `now` is fixed, so each queue's head keeps its rank until popped:
        # a heap of heads gives the best task in O(log queues) per pick.
        heads = [c for c in (self._candidate(k, now) for k in keys) if c is not None]
        heapq.heapify(heads)
        taken: list[Item] = []
        while heads and len(taken) < limit:
            *_, key = heapq.heappop(heads)
            taken.append(self._pop(key))
            following = self._candidate(key, now)
            if following is not None:
                heapq.heappush(heads, following)
        return taken

    def _candidate(self, key: QueueKey, now: float) -> tuple[int, float, int, int, QueueKey] | None:
        """A queue's head ranked by the aging rule: effective level, then ready first, then
        higher base priority (`sequence` keeps equal ranks in arrival order)."""
        head = self._head(key)
        if head is None:
            return None
        level = effective_level(key[2], head[0], now, self.aging_step)
        return (level, head[0], key[2], head[1], key)

    def _head(self, key: QueueKey) -> Entry | None:
        """The oldest live entry of a queue, dropping dead ones on the way."""
        queue = self._queues.get(key)
        while queue:
            _, sequence, task_id = queue[0]
            found = self._live.get(task_id)
            if found is not None and found[1] == sequence:
                return queue[0]
            heapq.heappop(queue)
        return None

    def _pop(self, key: QueueKey) -> Item:
        _, _, task_id = heapq.heappop(self._queues[key])
        item, _, _ = self._live.pop(task_id)
        self._counts[key] -= 1
        return item

    def depths(self, now: float) -> list[Depth]:
        """Every non-empty ready queue."""
        depths = []
        for key, count in sorted(self._counts.items()):
            head = self._head(key) if count else None
            if head is not None:
                shard, worker_type, priority = key
                wait = max(0.0, now - head[0])
                depths.append(Depth(shard, worker_type, priority, count, wait))
        return depths

    def delayed_count(self) -> int:
        return sum(1 for _, _, ready in self._live.values() if not ready)
