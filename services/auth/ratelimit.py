"""Per-client-address limits on the sensitive public RPCs (register, failed logins).

In memory, per process: Envoy's `local_ratelimit` is the first line at the edge; this catches
what gets through and callers that skip Envoy. The per-account lockout lives in the database, so
it holds across replicas.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque


class SlidingWindow:
    """At most `limit` events per key in any `window` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self._limit = limit
        self._window = window
        self._events: defaultdict[str, deque[float]] = defaultdict(deque)

    def retry_after(self, key: str) -> float:
        """Seconds until the key may act again; 0 when it may now."""
        events = self._recent(key)
        if len(events) < self._limit:
            return 0.0
        return max(events[0] + self._window - time.monotonic(), 0.0)

    def add(self, key: str) -> None:
        self._recent(key).append(time.monotonic())

    def _recent(self, key: str) -> deque[float]:
        events = self._events[key]
        horizon = time.monotonic() - self._window
        while events and events[0] <= horizon:
            events.popleft()
        return events
