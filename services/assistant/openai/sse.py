"""A streamed reply as OpenAI's Server-Sent Events: `data: {chunk}` frames as events arrive,
then `data: [DONE]`. Each frame goes out as one HttpBody, which Envoy's transcoder writes to the
response as it comes, so the framing is done here and nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from services.assistant.openai import shapes
from services.assistant.replies import Outcome, ReplyEvent
from voka import errors
from voka.sse import CONTENT_TYPE, event

__all__ = ["CONTENT_TYPE", "DONE", "error_event", "event", "frames"]
DONE = b"data: [DONE]\n\n"
# What an error event says its type is, by gRPC code name (OpenAI's error `type` values).
ERROR_TYPES = {
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "INVALID_ARGUMENT": "invalid_request_error",
}


def error_event(exc: errors.VokaError) -> bytes:
    """A failure after the first chunk (the status line is sent by then): OpenAI's error object
    as an event, which the SDKs raise as APIError."""
    kind = ERROR_TYPES.get(exc.code.name, "server_error")
    return event({"error": {"message": exc.message, "type": kind, "param": None,
                            "code": exc.code.name.lower()}})  # fmt: skip


async def frames(
    events: AsyncIterator[ReplyEvent], outcome: Outcome, *, include_usage: bool
) -> AsyncIterator[bytes]:
    """The reply's events as SSE frames. A failure before the first event (no free slot)
    raises, so the call ends with its status; one after it is the stream's last event."""
    head = shapes.Head(outcome.model)
    calls = 0
    started = False
    try:
        async for kind, message in events:
            delta: dict[str, Any] | None = None
            if kind == "started":
                started = True
                delta = {"role": "assistant", "content": "", "refusal": None}
            elif kind == "delta":
                delta = {"content": getattr(message, "text", "")}
            elif kind == "tool_call":
                call = {"index": calls, **shapes.tool_call(message)}  # type: ignore[arg-type]
                delta, calls = {"tool_calls": [call]}, calls + 1
            if delta is not None:
                yield event(shapes.chunk(head, delta, with_usage=include_usage))
    except errors.VokaError as exc:
        if not started:
            raise
        yield error_event(exc)
        return
    finish = shapes.finish_reason(outcome.finish)
    yield event(shapes.chunk(head, {}, finish=finish, with_usage=include_usage))
    if include_usage:
        yield event(shapes.usage_chunk(head, outcome))
    yield DONE
