"""The service's own RPC latency over a recent window, for the detailed health, the p95 alert and
the mesh's API monitoring (calls, errors, rate and p95 per RPC).

Prometheus has the full histogram, but a process cannot ask Prometheus, and the histogram's
buckets only bound a percentile. The window keeps the last calls' latencies in a bounded ring:
recording is one append (well under a microsecond, on every RPC), and the percentile is computed
only when the health loop asks, every few seconds. Rates and error counts come from the same
ring rather than the Prometheus counters, which only count since the process started: an
operator asking "what is failing now" wants the recent window.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict, deque
from collections.abc import Sequence

from voka.ops.v1 import ops_pb2
from voka.wellknown import duration

CAPACITY = 4096  # calls kept; beyond that, the window is the latest CAPACITY calls


class LatencyWindow:
    """Latencies of the calls completed within the last `seconds` (at most `capacity`)."""

    def __init__(self, seconds: float = 60.0, capacity: int = CAPACITY) -> None:
        self.seconds = seconds
        self._calls: deque[tuple[float, float, str, bool]] = deque(maxlen=capacity)

    def record(self, method: str, seconds: float, ok: bool = True) -> None:
        """Called on the RPC hot path: one tuple and one append."""
        self._calls.append((time.monotonic(), seconds, method, ok))

    def figures(self, quantile: float = 0.95) -> ops_pb2.ApiFigures:
        since = time.monotonic() - self.seconds
        by_method: defaultdict[str, list[tuple[float, bool]]] = defaultdict(list)
        for at, seconds, method, ok in self._calls:
            if at >= since:
                by_method[method].append((seconds, ok))
        every = [seconds for calls in by_method.values() for seconds, _ in calls]
        methods = [self._method(name, calls, quantile) for name, calls in by_method.items()]
        return ops_pb2.ApiFigures(
            p95_latency=duration(_percentile(every, quantile)),
            calls=len(every),
            window=duration(self.seconds),
            methods=sorted(methods, key=lambda m: (-m.calls, m.method)),
        )

    def _method(
        self, method: str, calls: list[tuple[float, bool]], quantile: float
    ) -> ops_pb2.MethodFigures:
        return ops_pb2.MethodFigures(
            method=method,
            calls=len(calls),
            errors=sum(1 for _, ok in calls if not ok),
            calls_per_second=round(len(calls) / self.seconds, 3),
            p95_latency=duration(_percentile([seconds for seconds, _ in calls], quantile)),
        )


def _percentile(latencies: Sequence[float], quantile: float) -> float:
    """The nearest-rank percentile; zero without calls."""
    ordered = sorted(latencies)
    return ordered[math.ceil(quantile * len(ordered)) - 1] if ordered else 0.0
