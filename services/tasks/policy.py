"""Pure rules with numbers in them: which shard a task lands on and how long a retry waits."""

from __future__ import annotations

import hashlib
import random


def shard_of(key: str, shards: int) -> int:
    """Stable across processes and versions (unlike `hash()`), and even across shards."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def retry_delay(attempt: int, base: float, cap: float, rand: random.Random | None = None) -> float:
    """Wait after failed attempt `attempt` (from 1): exponential, `base * 2**(attempt-1)` capped
    at `cap`, with "equal jitter" (half fixed, half random) so retries of tasks that failed
    together spread out but never come back sooner than half the step."""
    step = min(cap, base * 2.0 ** (attempt - 1))
    draw: float = (rand or random).random()
    return step / 2 + draw * step / 2
