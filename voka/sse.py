"""Server-Sent Events over gRPC: a server stream of `google.api.HttpBody` whose content type is
`text/event-stream`, one frame per message. Envoy's transcoder writes each body to the HTTP
response as it comes, so the framing is the service's, done here once: events, comments and
the heartbeat that keeps a quiet stream from looking dead to the proxies in between, the end of
a stream that stood still, and the bound on the streams one caller holds at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Iterator
from datetime import timedelta
from typing import Any

from google.api import httpbody_pb2

from voka import errors

CONTENT_TYPE = "text/event-stream"
KEEPALIVE = b": keepalive\n\n"
RECONNECT_MS = 3000  # an EventSource waits this long before it comes back after the end


def event(payload: Any, name: str = "") -> bytes:
    """One event: `event: name` (when named) and the payload as compact JSON on one `data:`
    line (JSON escapes newlines, so one line always holds it)."""
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def retry(milliseconds: int) -> bytes:
    """How long an EventSource waits before it reconnects after the stream ends."""
    return f"retry: {milliseconds}\n\n".encode()


def body(frame: bytes) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=CONTENT_TYPE, data=frame)


async def with_heartbeats(
    frames: AsyncGenerator[bytes, None], every: float
) -> AsyncGenerator[bytes, None]:
    """`frames`, with a `: keepalive` comment after each `every` seconds in which none came.
    The next frame is awaited in a task of its own so a heartbeat does not cancel it; ending
    early (the client went away) cancels that task and closes `frames`."""
    pending = asyncio.ensure_future(anext(frames))
    try:
        while True:
            done, _ = await asyncio.wait({pending}, timeout=every)
            if not done:
                yield KEEPALIVE
                continue
            try:
                frame = pending.result()
            except StopAsyncIteration:
                return
            yield frame
            pending = asyncio.ensure_future(anext(frames))
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await pending
        await frames.aclose()


class Quiet:
    """How long a live stream has had nothing to say: it ends once no change came for `idle`
    seconds, so an idle client does not hold a stream (and its cap) forever; the client comes
    back with a fresh token."""

    def __init__(self, idle: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._idle = idle
        self._clock = clock
        self._changed_at = clock()

    def changed(self) -> None:
        self._changed_at = self._clock()

    @property
    def over(self) -> bool:
        return self._clock() - self._changed_at >= self._idle


async def live(
    changes: AsyncGenerator[bytes, None], *, heartbeat: float, quiet: Quiet
) -> AsyncGenerator[bytes, None]:
    """The frames of a live stream: the reconnect delay, `changes` with keepalives through
    quiet spells, and `event: end` once `quiet` is over, judged after each frame (so at most one
    heartbeat after the idle time). `changes` calls `quiet.changed()` for what counts as one."""
    yield retry(RECONNECT_MS)
    async with contextlib.aclosing(with_heartbeats(changes, heartbeat)) as framed:
        async for frame in framed:
            yield frame
            if quiet.over:
                yield event({"reason": "idle"}, "end")
                return


class StreamCap:
    """At most `per_caller` streams per subject at once, counted in this replica: each open
    stream costs re-reads per change and a NATS interest, so a caller opening tabs (or a script
    opening streams) is refused once at the cap instead of holding the replica's memory and
    database. `what` names the streams in the refusal."""

    def __init__(self, per_caller: int, what: str) -> None:
        self._per_caller = per_caller
        self._what = what
        self._open: Counter[str] = Counter()

    @contextlib.contextmanager
    def hold(self, subject: str) -> Iterator[None]:
        """One stream of `subject` while inside; RESOURCE_EXHAUSTED (HTTP 429) at the cap,
        before the stream sends a byte."""
        if self._open[subject] >= self._per_caller:
            raise errors.resource_exhausted(
                f"you hold {self._per_caller} {self._what} already, the most per caller; "
                "close one (another tab?) and retry",
                retry_after=timedelta(seconds=5),
            )
        self._open[subject] += 1
        try:
            yield
        finally:
            self._open[subject] -= 1
            if not self._open[subject]:
                del self._open[subject]
