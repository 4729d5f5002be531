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

**Owners take turns within a priority.** Each (worker type, priority) counts turns: an owner's
next task carries its owner's turn, the queue hands out the lowest turn first (ties: the one
ready first), and taking a task moves its owner one turn on. An owner with nothing waiting that
submits again starts at the current turn, neither behind the others nor ahead of them. So one
owner's flood of 10 000 tasks delays another owner's single task of the same priority by one
task, not 10 000, and each owner's own tasks still go in the order they became ready (start-time
fair queuing with equal weights). Priority and aging come first: the queue of a priority offers
the task whose turn it is, and that task's level decides between the priorities as above.
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

QueueKey = tuple[int, int, int, str]  # shard, worker type, priority, owner
Entry = tuple[float, int, str]  # ready_at, sequence, task id
Lane = tuple[int, int]  # worker type, priority: where owners take turns
Head = tuple[int, float, int, QueueKey]  # turn, ready_at, sequence, queue: a lane's candidates


@dataclass(frozen=True)
class Item:
    """A task as the queues see it."""

    task_id: str
    shard: int
    worker_type: int
    priority: int
    ready_at: float  # when it may start (its not-before or retry time, or its submit)
    handout: Handout | None = field(default=None, compare=False)  # kept for the hand-out
    owner: str = ""  # whose turn it takes (`users/{id}`, `services/{domain}`)

    @property
    def key(self) -> QueueKey:
        return (self.shard, self.worker_type, self.priority, self.owner)


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
        self._queues: dict[QueueKey, list[Entry]] = {}  # non-empty ones only
        self._counts: dict[QueueKey, int] = {}
        self._keys: dict[int, set[QueueKey]] = {}  # worker type -> its queues
        self._ready: dict[int, int] = {}  # worker type -> its ready tasks
        self._waiting: dict[Lane, dict[str, int]] = {}  # owner -> its ready tasks, per lane
        self._turns: dict[tuple[int, int, str], int] = {}  # an owner's next turn in a lane
        self._clock: dict[Lane, int] = {}  # the turn of the lane's last task taken
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
            key = item.key
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = []
                self._counts[key] = 0
                self._keys.setdefault(key[1], set()).add(key)
            heapq.heappush(queue, entry)
            self._count(key, 1)
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
            self._count(item.key, -1)
        return True

    def _count(self, key: QueueKey, delta: int) -> None:
        """Move the ready counts of a queue, its worker type and its owner by `delta`. A queue
        left empty goes (with its dead entries); an owner who starts waiting in a lane joins at
        the lane's current turn, and one who stops waiting leaves it."""
        _, worker_type, priority, owner = key
        self._ready[worker_type] = self._ready.get(worker_type, 0) + delta
        count = self._counts[key] + delta
        if count:
            self._counts[key] = count
        else:
            del self._counts[key], self._queues[key]
            self._keys[worker_type].discard(key)
        lane = (worker_type, priority)
        owners = self._waiting.setdefault(lane, {})
        waiting = owners.get(owner, 0) + delta
        if waiting > 0:
            if waiting == 1 and delta > 0:
                self._turns[(*lane, owner)] = self._clock.get(lane, 0)
            owners[owner] = waiting
        else:
            owners.pop(owner, None)
            self._turns.pop((*lane, owner), None)

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
        return self._ready.get(worker_type, 0)

    def take(self, worker_type: int, now: float, limit: int) -> list[Item]:
        """Up to `limit` ready tasks of `worker_type`, best first by the aging rule and, within
        a priority, by turns between owners; paused shards are skipped, and a paused worker
        type gives none."""
        if worker_type in self.paused_types:
            return []
        # Within one take `now` is fixed and only the owner just served changes its turn, so
        # each priority keeps a heap of owners (by turn, then their oldest ready task), each
        # owner a heap of its queues' heads: a pick costs O(log queues + log owners).
        heads: dict[tuple[int, str], list[tuple[float, int, QueueKey]]] = {}
        for key in self._keys.get(worker_type, ()):
            if key[0] not in self.paused_shards and (head := self._head(key)) is not None:
                heads.setdefault((key[2], key[3]), []).append((head[0], head[1], key))
        lanes: dict[int, list[tuple[int, float, int, str]]] = {}
        for (priority, owner), own in heads.items():
            heapq.heapify(own)
            lanes.setdefault(priority, []).append(self._turn(worker_type, priority, owner, own))
        fronts = {}
        for priority, lane in lanes.items():
            heapq.heapify(lane)
            fronts[priority] = self._rank(priority, lane[0], now)
        taken: list[Item] = []
        while fronts and len(taken) < limit:
            priority = min(fronts, key=fronts.__getitem__)
            lane = lanes[priority]
            owner = lane[0][3]
            own = heads[(priority, owner)]
            key = own[0][2]
            taken.append(self._pop(key))
            following = self._head(key)
            if following is None:
                heapq.heappop(own)
            else:
                heapq.heapreplace(own, (following[0], following[1], key))
            if own:
                heapq.heapreplace(lane, self._turn(worker_type, priority, owner, own))
            else:
                heapq.heappop(lane)
            if lane:
                fronts[priority] = self._rank(priority, lane[0], now)
            else:
                del fronts[priority]
        return taken

    def _turn(
        self, worker_type: int, priority: int, owner: str, own: list[tuple[float, int, QueueKey]]
    ) -> tuple[int, float, int, str]:
        """An owner's place in its lane: its turn, then its oldest ready task."""
        turn = self._turns.get((worker_type, priority, owner), 0)
        ready_at, sequence, _ = own[0]
        return (turn, ready_at, sequence, owner)

    def _rank(
        self, priority: int, front: tuple[int, float, int, str], now: float
    ) -> tuple[int, float, int, int]:
        """A lane's next task ranked by the aging rule: effective level, then ready first, then
        higher base priority (`sequence` keeps equal ranks in arrival order)."""
        _, ready_at, sequence, _ = front
        return (effective_level(priority, ready_at, now, self.aging_step), ready_at, priority,
                sequence)  # fmt: skip

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
        """Hand out the head of a queue: its owner's turn in the lane moves on."""
        _, _, task_id = heapq.heappop(self._queues[key])
        item, _, _ = self._live.pop(task_id)
        turn, lane = (key[1], key[2], key[3]), (key[1], key[2])
        self._clock[lane] = self._turns.get(turn, 0)
        self._turns[turn] = self._clock[lane] + 1
        self._count(key, -1)
        return item

    def depths(self, now: float) -> list[Depth]:
        """Every non-empty ready queue of a (shard, worker type, priority), owners together."""
        found: dict[tuple[int, int, int], tuple[int, float]] = {}
        for key, count in list(self._counts.items()):
            head = self._head(key)
            if head is not None:
                where = (key[0], key[1], key[2])
                before, oldest = found.get(where, (0, head[0]))
                found[where] = (before + count, min(oldest, head[0]))
        return [Depth(*where, count, max(0.0, now - oldest))
                for where, (count, oldest) in sorted(found.items())]  # fmt: skip

    def delayed_count(self) -> int:
        return sum(1 for _, _, ready in self._live.values() if not ready)
