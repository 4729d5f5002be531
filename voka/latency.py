"""The service's own RPC latency over a recent window, for the detailed health and the p95 alert.

Prometheus has the full histogram, but a process cannot ask Prometheus, and the histogram's
buckets only bound a percentile. The window keeps the last calls' latencies in a bounded ring:
recording is one append (well under a microsecond, on every RPC), and the percentile is computed
only when the health loop asks, every few seconds.
"""

from __future__ import annotations

import math
import time
from collections import deque

from voka.ops.v1 import ops_pb2
from voka.wellknown import duration

CAPACITY = 4096  # calls kept; beyond that, the window is the latest CAPACITY calls


class LatencyWindow:
    """Latencies of the calls completed within the last `seconds` (at most `capacity`)."""

    def __init__(self, seconds: float = 60.0, capacity: int = CAPACITY) -> None:
        self.seconds = seconds
        self._calls: deque[tuple[float, float]] = deque(maxlen=capacity)

    def record(self, seconds: float) -> None:
        """Called on the RPC hot path: one tuple and one append."""
        self._calls.append((time.monotonic(), seconds))

    def figures(self, quantile: float = 0.95) -> ops_pb2.ApiFigures:
        since = time.monotonic() - self.seconds
        latencies = sorted(s for t, s in self._calls if t >= since)
        value = latencies[math.ceil(quantile * len(latencies)) - 1] if latencies else 0.0
        return ops_pb2.ApiFigures(
            p95_latency=duration(value),
            calls=len(latencies),
            window=duration(self.seconds),
        )
