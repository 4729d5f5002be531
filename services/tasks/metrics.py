"""The task system's Prometheus metrics (default registry, `voka_tasks_*`), and reading them
back for GetTaskMetrics.

The counters and histograms live in this process: they count what this replica saw since it
started (each replica counts what it served). Rates over a window come from a short in-memory
log of event times (`RATES`), since a Prometheus counter alone has no history.
"""

from __future__ import annotations

import collections
import functools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Gauge, Histogram

from services.tasks.events import type_token
from services.tasks.ready_queues import Depth
from voka.tasks.v1 import tasks_pb2

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
RATE_LOG = 100_000  # event times kept per kind, for rates over a window

QUEUE_DEPTH = Gauge(
    "voka_tasks_queue_depth",
    "Ready tasks waiting, per shard, priority and worker type.",
    ["shard", "priority", "worker_type"],
)
RUNNING = Gauge("voka_tasks_running", "Attempts handed out and not finished.", ["worker_type"])
SUBMITTED = Counter("voka_tasks_submitted", "Tasks accepted.", ["worker_type"])
DEDUPLICATED = Counter("voka_tasks_deduplicated", "Submits answered by an idempotency key.")
SUBMIT_ROUNDS = Histogram(
    "voka_tasks_submit_round_size",
    "Tasks per submit round (one transaction; concurrent submits of any kind share one).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000),
)
STARTED = Counter("voka_tasks_started", "Attempts started.", ["worker_type"])
SUCCEEDED = Counter("voka_tasks_succeeded", "Tasks that succeeded.", ["worker_type"])
FAILED = Counter("voka_tasks_failed", "Attempts that failed.", ["worker_type"])
RETRIED = Counter("voka_tasks_retried", "Attempts that were retries (attempt 2+).", ["worker_type"])
DEAD_LETTERED = Counter("voka_tasks_dead_lettered", "Tasks dead-lettered.", ["worker_type"])
CANCELLED = Counter("voka_tasks_cancelled", "Tasks cancelled.", ["worker_type"])
QUEUE_LATENCY = Histogram(
    "voka_tasks_queue_latency_seconds",
    "Submit (or not-before) to the first start of a task.",
    ["priority"],
    buckets=LATENCY_BUCKETS,
)
RUN_TIME = Histogram(
    "voka_tasks_run_time_seconds",
    "Run time of attempts, start to finish.",
    ["worker_type"],
    buckets=LATENCY_BUCKETS,
)
# Pools, from the workers' heartbeats and the stored bounds (autoscaler.py sets them each
# round). Every replica reports every pool: aggregate with max, not sum.
POOL_WORKERS = Gauge("voka_tasks_pool_workers", "Live workers, not draining.", ["worker_type"])
POOL_BUSY = Gauge("voka_tasks_pool_busy", "Attempts running on its workers.", ["worker_type"])
POOL_CAPACITY = Gauge("voka_tasks_pool_capacity", "Slots of the live workers.", ["worker_type"])
POOL_UTILISATION = Gauge(
    "voka_tasks_pool_utilisation",
    "Share of the pool's slots busy over the workers' last heartbeat interval, 0 to 1.",
    ["worker_type"],
)
POOL_DESIRED = Gauge("voka_tasks_pool_desired_workers", "Workers wanted now.", ["worker_type"])
POOL_MIN = Gauge("voka_tasks_pool_min_workers", "The pool's lower bound.", ["worker_type"])
POOL_MAX = Gauge("voka_tasks_pool_max_workers", "The pool's upper bound.", ["worker_type"])

# Largest observation per histogram and label value (Prometheus keeps none).
_largest: dict[Histogram, dict[str, float]] = {}
Labels = tuple[str, str, str]


@functools.cache  # called several times per task
def worker_label(worker_type: int) -> str:
    return type_token(worker_type)  # type: ignore[arg-type]


@functools.cache
def priority_label(priority: int) -> str:
    return tasks_pb2.Priority.Name(priority).removeprefix("PRIORITY_").lower()  # type: ignore[arg-type]


class Rates:
    """Times of recent events per kind (`submitted`, `started`, `completed`, `retried`)."""

    def __init__(self) -> None:
        self._log: dict[str, deque[float]] = {}

    def mark(self, kind: str, count: int = 1) -> None:
        log = self._log.setdefault(kind, deque(maxlen=RATE_LOG))
        now = time.time()
        log.extend([now] * count)

    def count(self, kind: str, window: float, now: float | None = None) -> int:
        since = (now or time.time()) - window
        return sum(1 for at in reversed(self._log.get(kind, ())) if at >= since)

    def per_second(self, kind: str, window: float) -> float:
        return self.count(kind, window) / window


RATES = Rates()


# Recording (called by the RPCs, the intake and the scheduler).


class Tally:
    """What one batch of submits or reports adds to the metrics, recorded at once by
    `record`: a label lookup, a lock and a rate-log entry per label set and batch instead of
    per task (the scheduler applies thousands of reports a second)."""

    def __init__(self) -> None:
        self._counts: collections.Counter[tuple[Counter, str]] = collections.Counter()
        self._rates: collections.Counter[str] = collections.Counter()
        self._values: dict[tuple[Histogram, str], list[float]] = {}

    def submitted(self, worker_types: Iterable[int], deduplicated: int = 0) -> None:
        for worker_type in worker_types:
            self._count(SUBMITTED, worker_label(worker_type), "submitted")
        if deduplicated:
            DEDUPLICATED.inc(deduplicated)

    def started(self, worker_type: int, priority: int, attempt: int, waited: float | None) -> None:
        """An attempt started; `waited` (first attempts only) is its queue latency."""
        self._count(STARTED, worker_label(worker_type), "started")
        if attempt > 1:
            self._count(RETRIED, worker_label(worker_type), "retried")
        if waited is not None:
            self._observe(QUEUE_LATENCY, max(0.0, waited), priority_label(priority))

    def ran(self, worker_type: int, seconds: float | None) -> None:
        if seconds is not None:
            self._observe(RUN_TIME, max(0.0, seconds), worker_label(worker_type))

    def finished(self, counter: Counter, worker_type: int) -> None:
        """A task reached a final state (`SUCCEEDED`, `DEAD_LETTERED` or `CANCELLED`)."""
        self._count(counter, worker_label(worker_type), "completed")

    def failed(self, worker_type: int) -> None:
        self._count(FAILED, worker_label(worker_type))

    def record(self) -> None:
        for (counter, label), count in self._counts.items():
            counter.labels(label).inc(count)
        for kind, count in self._rates.items():
            RATES.mark(kind, count)
        for (histogram, label), values in self._values.items():
            child = histogram.labels(label)
            for value in values:
                child.observe(value)
            largest = _largest.setdefault(histogram, {})
            largest[label] = max(largest.get(label, 0.0), *values)
        self._counts.clear()
        self._rates.clear()
        self._values.clear()

    def _count(self, counter: Counter, label: str, rate: str | None = None) -> None:
        self._counts[counter, label] += 1
        if rate is not None:
            self._rates[rate] += 1

    def _observe(self, histogram: Histogram, value: float, label: str) -> None:
        self._values.setdefault((histogram, label), []).append(value)


def submitted(worker_types: Iterable[int], deduplicated: int = 0) -> None:
    _once(lambda tally: tally.submitted(worker_types, deduplicated))


def started(worker_type: int, priority: int, attempt: int, waited: float | None) -> None:
    _once(lambda tally: tally.started(worker_type, priority, attempt, waited))


def ran(worker_type: int, seconds: float | None) -> None:
    _once(lambda tally: tally.ran(worker_type, seconds))


def finished(counter: Counter, worker_type: int) -> None:
    _once(lambda tally: tally.finished(counter, worker_type))


def failed(worker_type: int) -> None:
    _once(lambda tally: tally.failed(worker_type))


def _once(add: Callable[[Tally], None]) -> None:
    """A single observation, recorded at once."""
    tally = Tally()
    add(tally)
    tally.record()


def set_depths(
    depths: Iterable[Depth], previous: set[tuple[str, str, str]]
) -> set[tuple[str, str, str]]:
    """Sets the queue-depth gauge; queues that emptied since `previous` go to 0. Returns the
    label sets now non-zero."""
    now: set[Labels] = set()
    for depth in depths:
        labels = (str(depth.shard), priority_label(depth.priority), worker_label(depth.worker_type))
        QUEUE_DEPTH.labels(*labels).set(depth.count)
        now.add(labels)
    for labels in previous - now:
        QUEUE_DEPTH.labels(*labels).set(0)
    return now


# Reading back.


def total(counter: Counter) -> int:
    """A counter's value summed over its labels."""
    return int(
        sum(s.value for m in counter.collect() for s in m.samples if s.name.endswith("_total"))
    )


def histogram(metric: Histogram, label: str | None = None) -> tasks_pb2.LatencyHistogram:
    """A histogram (one label value, or all summed) as the contract's LatencyHistogram.

    Percentiles are estimated from the cumulative buckets, interpolating linearly inside the
    bucket the rank falls in (as PromQL's histogram_quantile does); above the last finite bound
    the estimate is that bound. `max` is the largest value observed by this process, and no
    estimate goes above it (interpolating inside a wide bucket would otherwise report a p99
    that no task ever waited)."""
    buckets: dict[float, float] = {}
    count = 0.0
    total_seconds = 0.0
    for family in metric.collect():
        for sample in family.samples:
            if label is not None and label not in sample.labels.values():
                continue
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_count"):
                count += sample.value
            elif sample.name.endswith("_sum"):
                total_seconds += sample.value
    ordered = sorted(buckets.items())
    seen = _largest.get(metric, {})
    largest = max((v for k, v in seen.items() if label in (None, k)), default=0.0)
    message = tasks_pb2.LatencyHistogram(count=int(count))
    message.sum.FromNanoseconds(round(total_seconds * 1e9))
    message.max.FromNanoseconds(round(largest * 1e9))
    for field, q in (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)):
        estimate = min(quantile(q, ordered, count), largest) if largest else 0.0
        getattr(message, field).FromNanoseconds(round(estimate * 1e9))
    for bound, cumulative in ordered:
        bucket = message.buckets.add(count=int(cumulative))
        if not math.isinf(bound):
            bucket.upper_bound.FromNanoseconds(round(bound * 1e9))
    return message


def quantile(q: float, buckets: list[tuple[float, float]], count: float) -> float:
    """The q-quantile from cumulative (upper bound, count) buckets; 0 with no observations."""
    if count <= 0:
        return 0.0
    rank = q * count
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return lower + (bound - lower) * share
        lower, below = bound, cumulative
    return lower
