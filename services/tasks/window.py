"""How many attempts of a worker type may be out at once (handed out, not yet finished).

The window is the trade between keeping a pool busy and letting an urgent task overtake: every
attempt already handed out is one a task queued later waits behind. A fixed window is either
too small for a pool of short tasks (its round trips, not its workers, set the pace) or too
large for a pool of long ones. So the window follows the pool's pace:

    window = clamp(pace * horizon, floor, ceiling)

where `pace` is the attempts the pool finished per second, smoothed over the scheduler's ticks.
A pool of long tasks stays at `floor`; a fast one gets about `horizon` seconds of its own work
out at once, so an urgent task waits about that long at most. Pure: the scheduler feeds it.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable

SMOOTHING = 0.5  # weight of the newest period in the pace


class DispatchWindow:
    """Per worker type: `finished()` as attempts end, `update()` every tick, `size()`."""

    def __init__(
        self,
        floor: int,
        ceiling: int,
        horizon: float,
        period: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < floor <= ceiling:
            raise ValueError("the window needs 0 < floor <= ceiling")
        self.floor, self.ceiling, self.horizon = floor, ceiling, horizon
        self._period = period
        self._clock = clock
        self._since = clock()
        self._counts: Counter[int] = Counter()
        self._pace: dict[int, float] = {}

    def finished(self, worker_type: int, count: int = 1) -> None:
        self._counts[worker_type] += count

    def update(self) -> None:
        """Fold the attempts finished since the last period into each pace (once a period has
        passed: a tick may come sooner)."""
        now = self._clock()
        elapsed = now - self._since
        if elapsed < self._period:
            return
        for worker_type in set(self._pace) | set(self._counts):
            rate = self._counts[worker_type] / elapsed
            before = self._pace.get(worker_type, rate)
            self._pace[worker_type] = before + SMOOTHING * (rate - before)
        self._counts.clear()
        self._since = now

    def pace(self, worker_type: int) -> float:
        """Attempts finished per second, smoothed."""
        return self._pace.get(worker_type, 0.0)

    def size(self, worker_type: int) -> int:
        wanted = math.ceil(self.pace(worker_type) * self.horizon)
        return min(self.ceiling, max(self.floor, wanted))
