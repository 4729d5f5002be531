"""How late the event loop runs what is due: `voka_event_loop_lag_seconds`, per process.

Everything a service does runs on one event loop; a handler that blocks it (a file read, a
model call, a catalogue rebuilt on the loop) delays every other call of the process, which no
per-RPC latency shows. A probe that asks to wake every `INTERVAL` seconds and records how late
it woke measures exactly that delay. Home-made: it is one timer (the `aiomonitor`-style
libraries on PyPI bring a console and a web UI to get the same number), and the histogram goes
to the process's Prometheus registry like every other kit metric.
"""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Histogram

INTERVAL = 0.1  # seconds between probes: a block shorter than this may fall between two
LAG = Histogram(
    "voka_event_loop_lag_seconds",
    "How late the event loop woke a probe due every 100 ms: the time something held the loop.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)


async def watch(interval: float = INTERVAL) -> None:
    """Probe the running loop for ever (the server runs it as a task and cancels it at stop)."""
    while True:
        due = time.perf_counter() + interval
        await asyncio.sleep(interval)
        LAG.observe(max(0.0, time.perf_counter() - due))
