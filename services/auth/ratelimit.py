"""Per-client-address limits on the sensitive public RPCs (register, failed logins).

In memory, per process: Envoy's per-client `local_ratelimit` is the first line at the edge; this
catches what gets through and callers that skip Envoy. The per-account lockout lives in the
database, so it holds across replicas.

A window is checked and added to in one synchronous call (`take`): checking, then awaiting a
password hash, then adding would let every concurrent request through a window with one place
left.
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

    def take(self, key: str) -> float:
        """Count one event for `key` if the window has room, answering 0; else count nothing
        and answer the seconds until it has room."""
        events = self._recent(key)
        if len(events) < self._limit:
            events.append(time.monotonic())
            return 0.0
        return max(events[0] + self._window - time.monotonic(), 0.0)

    def give_back(self, key: str) -> None:
        """Uncount the latest event of `key`: an attempt taken up front that did not count in
        the end (a login whose password was right)."""
        events = self._events.get(key)
        if events:
            events.pop()

    def _recent(self, key: str) -> deque[float]:
        events = self._events[key]
        horizon = time.monotonic() - self._window
        while events and events[0] <= horizon:
            events.popleft()
        return events
