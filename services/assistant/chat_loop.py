"""The turn loop: stream the model, run the tools it asks for, feed their results back.

The service calls `ChatLoop.run` for every reply with the finished message list; the loop owns
only what happens between the model and the tools, so every provider gets the same tool rules:
a tool outside the conversation's allow-list is answered with an error result, never executed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Collection
from contextlib import aclosing
from dataclasses import dataclass, replace

from services.assistant.providers.base import (
    ChatMessage,
    ChatProvider,
    ChatRequest,
    Finished,
    TokenDelta,
    ToolCall,
    ToolCallRequested,
)
from services.assistant.providers.registry import ProviderRegistry
from services.assistant.tools import ToolBox, ToolResult


@dataclass(frozen=True)
class ToolCallEvent:
    """The model asked for this tool call (sent before it runs)."""

    call: ToolCall


@dataclass(frozen=True)
class ToolResultEvent:
    """What a tool call returned (or why it did not run)."""

    result: ToolResult


ChatEvent = TokenDelta | ToolCallEvent | ToolResultEvent | Finished


@dataclass
class _Round:
    """What one provider stream produced: its text, its tool calls and how it ended."""

    text: str = ""
    calls: tuple[ToolCall, ...] = ()
    finished: Finished | None = None


class ChatLoop:
    """Drives one reply through as many tool rounds as the model needs, up to a limit."""

    def __init__(
        self,
        registry: ProviderRegistry,
        tools: ToolBox,
        *,
        tool_timeout: float,
        max_tool_rounds: int,
    ) -> None:
        self._registry = registry
        self._tools = tools
        self._tool_timeout = tool_timeout
        self._max_tool_rounds = max_tool_rounds

    async def run(
        self,
        request: ChatRequest,
        *,
        allowed_tools: Collection[str],
        tool_timeout: float | None = None,
    ) -> AsyncGenerator[ChatEvent, None]:
        """Stream one reply; closing this iterator closes the provider's stream too.

        Tools come from the request, or else the ToolBox's allowed ones when the model takes
        tools. Tools in the request are the caller's own (OpenAI API): their calls end the
        reply (`tool_calls`) for the caller to run; nothing is executed here. The last round
        offers none, so the model has to answer in words. Each tool call may take
        `tool_timeout` seconds (a conversation's own limit), else the loop's default.
        """
        provider, info = self._registry.resolve(request.model)
        offered = request.tools or (
            tuple(self._tools.tools(allowed_tools)) if info.supports_tools else ()
        )
        messages = list(request.messages)
        prompt_tokens = completion_tokens = 0
        for round_no in range(self._max_tool_rounds + 1):
            tools = offered if round_no < self._max_tool_rounds else ()
            step = replace(request, model=info.id, messages=tuple(messages), tools=tools)
            outcome = _Round()
            async with aclosing(_relay(provider, step, outcome)) as events:
                async for chat_event in events:
                    yield chat_event
            finished = outcome.finished or Finished("stop", 0, 0)
            prompt_tokens += finished.prompt_tokens
            completion_tokens += finished.completion_tokens
            if not outcome.calls or not tools:
                yield Finished(finished.reason, prompt_tokens, completion_tokens)
                return
            if request.tools:  # the caller's own functions (OpenAI API): the caller runs them
                yield Finished("tool_calls", prompt_tokens, completion_tokens)
                return
            messages.append(ChatMessage("assistant", outcome.text, tool_calls=outcome.calls))
            for call in outcome.calls:
                result = await self._execute(call, allowed_tools, tool_timeout)
                yield ToolResultEvent(result)
                messages.append(ChatMessage("tool", result.content, tool_call_id=call.id))

    async def _execute(
        self, call: ToolCall, allowed: Collection[str], limit: float | None
    ) -> ToolResult:
        """Run an allowed tool; any other gets an error result the model reads, never runs."""
        if call.name not in allowed:
            return ToolResult(
                call_id=call.id,
                name=call.name,
                content=f"tool {call.name!r} is not allowed in this conversation",
                is_error=True,
                duration_ms=0,
                refused=True,
            )
        return await self._tools.call(
            call.name, call.arguments, timeout=limit or self._tool_timeout, call_id=call.id
        )


async def _relay(
    provider: ChatProvider, step: ChatRequest, outcome: _Round
) -> AsyncGenerator[ChatEvent, None]:
    """One provider stream, folded into `outcome` and passed on as chat events."""
    async with aclosing(provider.stream(step)) as events:
        async for event in events:
            chat_event = _record(outcome, event)
            if chat_event is not None:
                yield chat_event


def _record(outcome: _Round, event: TokenDelta | ToolCallRequested | Finished) -> ChatEvent | None:
    """Fold a provider event into the round; return what the caller should see of it."""
    if isinstance(event, TokenDelta):
        outcome.text += event.text
        return event
    if isinstance(event, ToolCallRequested):
        outcome.calls += (event.call,)
        return ToolCallEvent(event.call)
    outcome.finished = event
    return None
