"""Pure rules with numbers in them: which shard a task lands on and how long a retry waits."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Sequence

PLACEMENT_SLOT = 0.05  # seconds during which keyless tasks taken in share one shard


def shard_of(key: str, shards: int) -> int:
    """Stable across processes and versions (unlike `hash()`), and even across shards."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


class Placement:
    """The shard a new task lands on. A task with a shard key hashes onto the key's shard
    (`shard_of`: the same key, the same shard, whichever replica takes it in). A task without
    one goes to a shard this replica serves and has not paused, the same one for every task
    taken in within a `PLACEMENT_SLOT`, the next one in the slot after. Hashing those by their
    id, as before, spread the tasks of one round over up to sixteen shards: a worker reports
    per shard, so each unary submit came back as a report message of its own, and a replica
    handed the tasks of shards it does not serve to their owners. Over any stretch longer than
    `len(shards)` slots the tasks still spread evenly; a burst shorter than a slot lands on one
    shard, as tasks sharing a key do. `open_shards` is the scheduler's; with none (a replica
    that holds no lease yet), the id's hash."""

    def __init__(
        self,
        shards: int,
        open_shards: Callable[[], Sequence[int]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._shards = shards
        self._open_shards = open_shards
        self._clock = clock
        self._slot = -1
        self._current: int | None = None

    def shard(self, shard_key: str, task_id: str) -> int:
        if shard_key:
            return shard_of(shard_key, self._shards)
        slot = int(self._clock() / PLACEMENT_SLOT)
        if slot != self._slot:
            open_now = self._open_shards()
            self._slot = slot
            self._current = open_now[slot % len(open_now)] if open_now else None
        return shard_of(task_id, self._shards) if self._current is None else self._current


def retry_delay(attempt: int, base: float, cap: float, rand: random.Random | None = None) -> float:
    """Wait after failed attempt `attempt` (from 1): exponential, `base * 2**(attempt-1)` capped
    at `cap`, with "equal jitter" (half fixed, half random) so retries of tasks that failed
    together spread out but never come back sooner than half the step."""
    step = min(cap, base * 2.0 ** (attempt - 1))
    draw: float = (rand or random).random()
    return step / 2 + draw * step / 2
