"""The Celery peer of `bench.tasks`: one no-op task on a Redis broker, default settings.

Started by the bench as `celery -A bench.tasks_celery worker -P prefork -c N`; the broker URL
comes from `$VOKA_BENCH_CELERY_BROKER` (a Redis database of the bench's own).
"""

from __future__ import annotations

import os

from celery import Celery

from bench.tasks_probe import record

BROKER = "VOKA_BENCH_CELERY_BROKER"

app = Celery("voka_bench", broker=os.environ.get(BROKER, "redis://127.0.0.1:6379/13"))


@app.task(name="bench.probe")  # type: ignore[untyped-decorator]  # Celery ships no types
def probe(index: int) -> None:
    record(index)
