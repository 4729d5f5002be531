"""Catalogues answered from memory, refreshed off the event loop (issue 16, item 3).

A service's catalogue (the models it has installed, the routes it plans) comes from files and
engines that change rarely, while it is asked on every list call and often per request. Looking
at the disk per call costs milliseconds and blocks the event loop; a catalogue instead keeps
what it found and a background task looks again every few seconds in a worker thread, so a model
installed while the service runs counts within that time, without a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


async def every(seconds: float, refresh: Callable[[], object], what: str) -> None:
    """Forever: run the blocking `refresh` in a worker thread every `seconds` (run it as a
    background task, cancelled at stop). A failure is logged and the catalogue keeps what it
    had: a bad look at the disk must not take the service's answers, or this loop, down."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await asyncio.to_thread(refresh)
        except Exception:
            log.exception("refreshing the %s failed; keeping the last one", what)
