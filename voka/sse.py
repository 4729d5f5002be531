"""Server-Sent Events over gRPC: a server stream of `google.api.HttpBody` whose content type is
`text/event-stream`, one frame per message. Envoy's transcoder writes each body to the HTTP
response as it comes, so the framing is the service's, done here once: events, comments and
the heartbeat that keeps a quiet stream from looking dead to the proxies in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator
from typing import Any

from google.api import httpbody_pb2

CONTENT_TYPE = "text/event-stream"
KEEPALIVE = b": keepalive\n\n"


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
