"""A circuit breaker: stop calling a peer that keeps failing, try again after a pause.

Closed, calls pass and consecutive failures are counted; at the threshold it opens and callers
are refused at once (no hang on a dead peer). After `reset_seconds` it is half open: one trial
call passes; its success closes the breaker, its failure opens it for another pause. A trial
that never reports (its caller was cancelled) stops blocking others after `reset_seconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Consecutive-failure breaker for one peer; not thread-safe (one event loop uses it)."""

    def __init__(
        self,
        *,
        failures: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._threshold = failures
        self._reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at < self._reset_seconds:
            return BreakerState.OPEN
        return BreakerState.HALF_OPEN

    @property
    def retry_after(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when it would now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._reset_seconds - self._clock())

    def allow(self) -> bool:
        """Whether a call may go out now; in half open, only the one trial call may."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        if self._trial_at is not None and now - self._trial_at < self._reset_seconds:
            return False
        self._trial_at = now
        return True

    def succeeded(self) -> None:
        """A call worked: close the breaker and forget past failures."""
        self._failures = 0
        self._opened_at = None
        self._trial_at = None

    def failed(self) -> None:
        """A call failed: count it; at the threshold, or a failed trial, open for a pause."""
        self._failures += 1
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()
            self._trial_at = None
