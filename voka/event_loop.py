"""The event loop every Voka process runs on: uvloop unless its settings say asyncio.

Why uvloop (MagicStack's libuv loop, a drop-in `asyncio` loop): a service's event loop thread
spends much of a small call in the loop itself (waking tasks, running handles, socket reads and
writes to NATS, the SQLite thread's results coming back), and uvloop does that in C. grpc.aio
runs on it unchanged (its poller hands completions to the loop through a socket the loop
watches), as do nats-py, aiosqlite and psycopg. Translate's CPU per cached call fell 10-19 %,
the task stream's 6-13 % (bench/README.md, "On uvloop").

`VOKA_EVENT_LOOP=asyncio` (`Settings.event_loop`) keeps the standard library's loop: for a
comparison, or on a platform without a uvloop wheel.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

from voka.config import EventLoop

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T], kind: EventLoop) -> T:
    """`asyncio.run`, on the loop `kind` names."""
    factory = uvloop.new_event_loop if kind == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)
