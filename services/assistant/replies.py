"""One reply through the chat loop, inside a provider slot, with its accounting: the text per
tool round, the tool calls and results (as the contract names them), token usage and timing.
Every RPC that generates (unary, streamed, async, voice) goes through here, so they all count
load, stop on cancel and report timing the same way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractAsyncContextManager, aclosing
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.message import Message

from services.assistant import convert
from services.assistant.announce import Announcer, Origin
from services.assistant.chat_loop import ChatEvent, ChatLoop, ToolCallEvent, ToolResultEvent
from services.assistant.load import Load
from services.assistant.providers.base import (
    ChatRequest,
    Finished,
    ProviderUnavailable,
    TokenDelta,
)
from voka import errors, wellknown
from voka.assistant.v1 import assistant_pb2

ToolName = Callable[[str], str]  # the model's tool name -> `servers/{server}/tools/{tool}`
# A stream event of a reply: the response `oneof` field (`started`, `delta`, `tool_call`,
# `tool_result`, `completed`) and its message.
ReplyEvent = tuple[str, Message]


@dataclass
class Round:
    """An intermediate assistant message: the text before its tool calls, and the results."""

    text: str
    calls: list[assistant_pb2.ToolCall] = field(default_factory=list)
    results: list[assistant_pb2.ToolResult] = field(default_factory=list)


@dataclass
class Outcome:
    """What a reply produced so far; complete once the generation ended (or was cut short)."""

    model: str
    began: float = field(default_factory=time.monotonic)
    rounds: list[Round] = field(default_factory=list)
    text: str = ""  # the reply after the last tool round
    finish: str = "stop"
    input_tokens: int = 0
    output_tokens: int = 0
    queue: float = 0.0
    first_token: float | None = None
    last_token: float | None = None
    ended: float | None = None

    @property
    def calls(self) -> list[assistant_pb2.ToolCall]:
        return [c for r in self.rounds for c in r.calls]

    @property
    def results(self) -> list[assistant_pb2.ToolResult]:
        return [r for rnd in self.rounds for r in rnd.results]

    def usage(self) -> assistant_pb2.TokenUsage:
        return convert.usage(self.input_tokens, self.output_tokens)

    def timing(self) -> assistant_pb2.ReplyTiming:
        end = self.ended or time.monotonic()
        timing = assistant_pb2.ReplyTiming(
            queue_duration=wellknown.duration(self.queue),
            total_duration=wellknown.duration(end - self.began),
        )
        if self.first_token is not None:
            timing.time_to_first_token.CopyFrom(wellknown.duration(self.first_token - self.began))
            span = (self.last_token or self.first_token) - self.first_token
            if span > 0 and self.output_tokens > 1:
                timing.tokens_per_second = (self.output_tokens - 1) / span
        return timing

    def completed(self, reply_message: str = "") -> assistant_pb2.ReplyCompleted:
        """The stream's last event; `reply_message` names the stored reply, if any."""
        return assistant_pb2.ReplyCompleted(
            reply_message=reply_message,
            text=self.text,
            model=self.model,
            usage=self.usage(),
            timing=self.timing(),
            finish_reason=convert.finish_reason(self.finish),
        )

    def see(self, event: ChatEvent, tool_name: ToolName) -> ReplyEvent | None:
        """Fold an event in; the stream event it becomes (`delta`, `tool_call`, ...)."""
        now = time.monotonic()
        if isinstance(event, TokenDelta):
            self.first_token = self.first_token or now
            self.last_token = now
            self.text += event.text
            return "delta", assistant_pb2.TextDelta(text=event.text)
        if isinstance(event, ToolCallEvent):
            if not self.rounds or self.rounds[-1].results:
                self.rounds.append(Round(self.text))
                self.text = ""
            call = convert.tool_call(event.call, tool_name(event.call.name))
            self.rounds[-1].calls.append(call)
            return "tool_call", call
        if isinstance(event, ToolResultEvent):
            result = convert.tool_result(event.result, tool_name(event.result.name))
            self.rounds[-1].results.append(result)
            return "tool_result", result
        self._finish(event)
        return None

    def _finish(self, event: Finished) -> None:
        self.finish = event.reason
        self.input_tokens, self.output_tokens = event.prompt_tokens, event.completion_tokens
        self.ended = time.monotonic()

    def stop(self, reason: str) -> None:
        """Cut short (cancelled, or the provider failed): keep what arrived."""
        self.finish = reason
        self.ended = time.monotonic()


class Generation(Protocol):
    """A turn or a stand-alone chat, ready to generate."""

    request: ChatRequest
    allowed: set[str]
    outcome: Outcome
    origin: Origin
    tool_timeout: float | None


class Replies:
    """Generation through the chat loop, a bounded number at a time per provider; each tool
    call is announced as `tool_call.executed`."""

    def __init__(self, loop: ChatLoop, load: Load, announcer: Announcer) -> None:
        self._loop = loop
        self.load = load
        self._announcer = announcer

    def slot(self, provider: str) -> AbstractAsyncContextManager[float]:
        """Hold one of the provider's slots (RESOURCE_EXHAUSTED when none is free in time)."""
        return self.load.of(provider).hold(provider)

    async def events(
        self, job: Generation, tool_name: ToolName
    ) -> AsyncGenerator[ReplyEvent, None]:
        """The reply's stream events; closing the iterator stops generation (the outcome
        then says `cancelled`), a provider failure ends it as UNAVAILABLE (`error`)."""
        outcome = job.outcome
        try:
            run = self._loop.run(job.request, allowed_tools=job.allowed,
                                 tool_timeout=job.tool_timeout)  # fmt: skip
            async with aclosing(run) as chat:
                async for event in chat:
                    seen = outcome.see(event, tool_name)
                    if isinstance(event, ToolResultEvent):
                        await self._announcer.tool_call(job.origin, event.result,
                                                        tool_name(event.result.name))  # fmt: skip
                    if seen is not None:
                        yield seen
        except ProviderUnavailable as exc:
            outcome.stop("error")
            raise errors.unavailable(str(exc)) from exc
        except (asyncio.CancelledError, GeneratorExit):
            outcome.stop("cancelled")
            raise

    async def run(self, job: Generation, tool_name: ToolName) -> Outcome:
        """The whole reply, waiting for it."""
        async for _ in self.events(job, tool_name):
            pass
        return job.outcome
