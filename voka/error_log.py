"""The latest ERROR records of the process, kept in memory for admins (`OpsService.
GetRecentErrors`, `GET /api/v1/monitoring/{service}/errors`).

The log pipeline has every line, but an admin asking "why is translate failing" should not need
it, and a service on one machine has none. The ring is bounded (CAPACITY records, each message
and traceback cut to a size), so a storm of errors costs a fixed amount of memory; recording is
one small message built per ERROR record, nothing per lower level (the handler's level filters
them before any work).
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime

from opentelemetry import trace

from voka.ops.v1 import ops_pb2
from voka.wellknown import timestamp

CAPACITY = 200
MAX_MESSAGE = 4096
MAX_EXCEPTION = 8192


class RecentErrors(logging.Handler):
    """A logging handler keeping the last `capacity` records at ERROR or above."""

    def __init__(self, capacity: int = CAPACITY) -> None:
        super().__init__(logging.ERROR)
        self._entries: deque[ops_pb2.LogEntry] = deque(maxlen=capacity)
        self._traceback = logging.Formatter()

    def emit(self, record: logging.LogRecord) -> None:
        span = trace.get_current_span().get_span_context()
        entry = ops_pb2.LogEntry(
            time=timestamp(datetime.fromtimestamp(record.created, UTC)),
            level=record.levelname,
            logger=record.name,
            message=record.getMessage()[:MAX_MESSAGE],
            trace_id=format(span.trace_id, "032x") if span.is_valid else "",
        )
        if record.exc_info:
            # The end of a traceback says what failed; its start is the framework's frames.
            entry.exception = self._traceback.formatException(record.exc_info)[-MAX_EXCEPTION:]
        self._entries.append(entry)

    def entries(self) -> list[ops_pb2.LogEntry]:
        """Newest first."""
        return list(reversed(self._entries))


RECENT = RecentErrors()


def install() -> RecentErrors:
    """Keep the process's ERROR records from now on (once per process, however many servers it
    starts: tests start several); the process's ring."""
    root = logging.getLogger()
    if RECENT not in root.handlers:
        root.addHandler(RECENT)
    return RECENT
