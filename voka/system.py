"""CPU, memory and disk use where a service runs, read from /proc, the cgroup v2 files and
`os.statvfs` (no psutil: nothing else needs it).

In a container with limits (Kubernetes), what matters is the share of the container's own
limits — a pod at its memory limit is killed however idle the node is — so the cgroup's figures
win where it has a limit, and the host's are used otherwise. CPU use is a rate: each sample is
measured against the previous one.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

from voka.ops.v1 import ops_pb2
from voka.wellknown import timestamp

CGROUP = Path("/sys/fs/cgroup")
PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK")


class SystemSampler:
    """Samples the figures; keeps the previous CPU counters to turn them into a percentage."""

    def __init__(self, data_dir: Path, cgroup: Path = CGROUP, proc: Path = PROC) -> None:
        self._data_dir = data_dir
        self._cgroup = cgroup
        self._proc = proc
        self._cpu = self._cpu_counters()

    def sample(self) -> ops_pb2.SystemFigures:
        return ops_pb2.SystemFigures(
            cpu_percent=self._cpu_percent(),
            memory_percent=self._memory_percent(),
            disk_percent=disk_percent(self._data_dir),
            sample_time=timestamp(datetime.now(UTC)),
        )

    def _cpu_percent(self) -> float:
        (busy, capacity), (last_busy, last_capacity) = self._cpu_counters(), self._cpu
        self._cpu = (busy, capacity)
        if capacity <= last_capacity:
            return 0.0
        return _percent(busy - last_busy, capacity - last_capacity)

    def _cpu_counters(self) -> tuple[float, float]:
        """(CPU seconds used, CPU seconds available) so far: the cgroup's usage against its
        quota where it has one, else the host's busy time against all its CPU time."""
        quota = _read(self._cgroup / "cpu.max").split()
        if len(quota) == 2 and quota[0] != "max":
            usage = _keyed(_read(self._cgroup / "cpu.stat"))["usage_usec"] / 1e6
            return usage, time.monotonic() * int(quota[0]) / int(quota[1])
        ticks = [int(v) for v in _read(self._proc / "stat").split("\n", 1)[0].split()[1:]]
        idle = ticks[3] + ticks[4]  # idle + iowait
        total = sum(ticks[:8])  # user .. steal; guest time is already inside user
        return (total - idle) / _TICKS, total / _TICKS

    def _memory_percent(self) -> float:
        limit = _read(self._cgroup / "memory.max").strip()
        if limit.isdigit():
            return _percent(int(_read(self._cgroup / "memory.current")), int(limit))
        info = _keyed(_read(self._proc / "meminfo"))
        return _percent(info["MemTotal:"] - info["MemAvailable:"], info["MemTotal:"])


def disk_percent(path: Path) -> float:
    """Used share of the filesystem holding `path` (its nearest existing ancestor), as `df`
    counts it: blocks reserved for root are not available to the service."""
    while not path.exists() and path != path.parent:
        path = path.parent
    fs = os.statvfs(path)
    used = fs.f_blocks - fs.f_bfree
    return _percent(used, used + fs.f_bavail)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _keyed(text: str) -> dict[str, int]:
    """`name value ...` lines (cpu.stat, /proc/meminfo) → {name: value}."""
    return {p[0]: int(p[1]) for p in (line.split() for line in text.splitlines()) if len(p) > 1}


def _percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole > 0 else 0.0
