"""The Dramatiq peer of `bench.tasks`: one no-op actor on a Redis broker, default settings.

Started by the bench as `dramatiq bench.tasks_dramatiq --processes N` (default threads); the
broker URL and key namespace come from `$VOKA_BENCH_DRAMATIQ_BROKER` / `..._NAMESPACE`.
"""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.tasks_probe import record

BROKER = "VOKA_BENCH_DRAMATIQ_BROKER"
NAMESPACE = "VOKA_BENCH_DRAMATIQ_NAMESPACE"

dramatiq.set_broker(
    RedisBroker(  # type: ignore[no-untyped-call]  # Dramatiq ships no types
        url=os.environ.get(BROKER, "redis://127.0.0.1:6379/14"),
        namespace=os.environ.get(NAMESPACE, "voka-bench-dramatiq"),
    )
)


@dramatiq.actor(actor_name="bench_probe")
def probe(index: int) -> None:
    record(index)
