"""CPU seconds spent by process trees, read from /proc (Linux): what a benchmarked system costs
in all, whatever its throughput on a machine whose cores other work shares."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

PROC = Path("/proc")
TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds in user and kernel mode) of a live process."""
    try:
        text = (PROC / pid / "stat").read_text()
    except OSError:  # gone meanwhile
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def tree_seconds(roots: Iterable[int]) -> float:
    """CPU seconds of these processes and of every live descendant (a prefork pool's
    children, a supervisor's workers), all threads included."""
    stats = {int(pid): stat for pid in os.listdir(PROC) if pid.isdigit()
             if (stat := _stat(pid)) is not None}  # fmt: skip
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    seen: set[int] = set()
    todo = [pid for pid in roots if pid in stats]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, []))
    return sum(stats[pid][1] for pid in seen)


def named(name: str) -> list[int]:
    """Pids of the processes whose command is `name` (a server started outside the bench)."""
    found = []
    for pid in os.listdir(PROC):
        if pid.isdigit():
            try:
                if (PROC / pid / "comm").read_text().strip() == name:
                    found.append(int(pid))
            except OSError:
                continue
    return found


class Titled:
    """The processes whose command line contains `text`, looked up anew each time it is
    iterated: a server's per-connection processes come and go during a run (PostgreSQL names
    each backend `postgres: user database host(port) state`)."""

    def __init__(self, text: str) -> None:
        self._text = text.encode()

    def __iter__(self) -> Iterator[int]:
        for pid in os.listdir(PROC):
            if pid.isdigit():
                try:
                    if self._text in (PROC / pid / "cmdline").read_bytes():
                        yield int(pid)
                except OSError:
                    continue


def snapshot(roles: Mapping[str, Iterable[int]]) -> dict[str, float]:
    """CPU seconds so far per role (e.g. service, workers, broker), and this process's own
    (the client) under "client"."""
    seconds = {role: tree_seconds(pids) for role, pids in roles.items()}
    own = os.times()
    seconds["client"] = own.user + own.system
    return seconds
