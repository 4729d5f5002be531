"""What every benchmarked no-op task does: note, in the worker process, when it started.

The function itself records the time (not the framework around it), so submit→start is
measured the same way for every system: one `os.write` of `index start_time` to a file per
worker process under `$VOKA_BENCH_PROBE_DIR` (O_APPEND, so threads never interleave lines).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

PROBE_DIR = "VOKA_BENCH_PROBE_DIR"
_fd: int | None = None


def record(index: int) -> None:
    """Append `index start_time` (epoch seconds) to this process's probe file."""
    global _fd  # noqa: PLW0603 (one file per process, opened on first use)
    now = time.time()
    if _fd is None:
        path = Path(os.environ[PROBE_DIR]) / f"{os.getpid()}.log"
        _fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.write(_fd, f"{index} {now:.6f}\n".encode())


def starts(directory: Path) -> dict[int, float]:
    """Every recorded start, by task index (the first one if a task ran twice)."""
    found: dict[int, float] = {}
    for path in directory.glob("*.log"):
        for line in path.read_text().splitlines():
            index, _, at = line.partition(" ")
            if at:
                found.setdefault(int(index), float(at))
    return found
