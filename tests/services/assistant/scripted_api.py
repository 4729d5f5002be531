"""A real HTTP server speaking OpenAI's and Anthropic's streaming chat wire formats.

The remote LLM APIs cannot run here, so the providers are tested against this server: real
HTTP, real SSE framing, answers taken from a script a test writes (including failures), and
every request it got kept for the test to inspect.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass(frozen=True)
class Answer:
    """One scripted answer: an HTTP error, or a stream of (event name, JSON data) pairs."""

    status: int = 200
    events: tuple[tuple[str, Any], ...] = ()
    gap: float = 0.0  # seconds between two events
    done_marker: bool = False  # OpenAI ends its stream with `data: [DONE]`


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ScriptedApi:
    """Serves `script` in order, one answer per POST; an empty script answers 500."""

    port: int = 0
    script: list[Answer] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._answer, methods=["POST"]),
                Route("/v1/messages", self._answer, methods=["POST"]),
            ]
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()  # connections wait in the backlog until uvicorn accepts them
        self.port = listener.getsockname()[1]
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[listener]))

    async def __aenter__(self) -> ScriptedApi:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop listening (later connections are refused); `start` again serves the same port."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    async def _answer(self, request: Request) -> Response:
        self.received.append(
            Received(request.url.path, dict(request.headers), json.loads(await request.body()))
        )
        if not self.script:
            return JSONResponse({"error": {"message": "script exhausted"}}, status_code=500)
        answer = self.script.pop(0)
        if answer.status != 200:
            return JSONResponse({"error": {"message": "scripted failure"}}, answer.status)
        return StreamingResponse(_sse(answer), media_type="text/event-stream")


async def _sse(answer: Answer) -> AsyncIterator[str]:
    for name, data in answer.events:
        yield (f"event: {name}\n" if name else "") + f"data: {json.dumps(data)}\n\n"
        await asyncio.sleep(answer.gap)
    if answer.done_marker:
        yield "data: [DONE]\n\n"


def openai_stream(
    pieces: Sequence[str] = (),
    calls: Sequence[tuple[str, str, dict[str, Any]]] = (),
    *,
    finish: str = "stop",
    usage: tuple[int, int] | None = (12, 3),
    gap: float = 0.0,
) -> Answer:
    """Chunks as OpenAI streams them: a role delta, text deltas, tool calls whose arguments
    come in fragments, a finish reason, then a usage-only chunk."""
    chunks: list[dict[str, Any]] = [_choice({"role": "assistant"})]
    chunks += [_choice({"content": piece}) for piece in pieces]
    for index, (call_id, name, arguments) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function"}
        chunks.append(_choice({"tool_calls": [head | {"function": {"name": name}}]}))
        text = json.dumps(arguments)
        for part in (text[: len(text) // 2], text[len(text) // 2 :]):
            chunks.append(
                _choice({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
            )
    chunks.append(_choice({}, finish))
    if usage is not None:
        chunks.append(
            {"choices": [], "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]}}
        )
    return Answer(events=tuple(("", chunk) for chunk in chunks), gap=gap, done_marker=True)


def _choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def anthropic_stream(
    pieces: Sequence[str] = (),
    calls: Sequence[tuple[str, str, dict[str, Any]]] = (),
    *,
    stop_reason: str = "end_turn",
    usage: tuple[int, int] = (20, 4),
    error: dict[str, Any] | None = None,
) -> Answer:
    """Events as the Messages API streams them: message_start, a text block, tool_use blocks
    with input_json_delta fragments, a ping, message_delta with the stop reason, message_stop;
    `error` puts an error event after the text instead."""
    events: list[tuple[str, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"usage": {"input_tokens": usage[0], "output_tokens": 1}},
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    events += [
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            },
        )
        for piece in pieces
    ]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    if error is not None:
        return Answer(events=(*events, ("error", {"type": "error", "error": error})))
    for index, (call_id, name, arguments) in enumerate(calls, start=1):
        block = {"type": "tool_use", "id": call_id, "name": name, "input": {}}
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        text = json.dumps(arguments)
        for part in (text[:3], text[3:]):
            delta = {"type": "input_json_delta", "partial_json": part}
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason},
                "usage": {"output_tokens": usage[1]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return Answer(events=tuple(events))
