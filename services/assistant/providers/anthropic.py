"""Anthropic's Messages API over plain HTTP.

Streams `POST {base_url}/v1/messages`: `text_delta` events become tokens, `tool_use` blocks are
assembled from their `input_json_delta` fragments and handed over when the block stops. System
messages go into the top-level `system` field; tool results travel as `tool_result` blocks in a
user turn, consecutive turns of one role merged as the API requires.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from services.assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    ModelInfo,
    ProviderEvent,
    ProviderHealth,
    TokenDelta,
    ToolCall,
    ToolCallRequested,
)
from services.assistant.providers.remote import RemoteEndpoint, approx_tokens, parse_arguments
from services.assistant.settings import ProviderEntry

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
}


class AnthropicProvider:
    """A provider speaking Anthropic's Messages API."""

    def __init__(self, entry: ProviderEntry) -> None:
        self.name = entry.name
        headers = {"x-api-key": entry.api_key(), "anthropic-version": API_VERSION}
        self._endpoint = RemoteEndpoint(entry, entry.base_url or DEFAULT_BASE_URL, headers)
        self._api_names = {model.id: model.api_name for model in entry.models}

    def models(self) -> list[ModelInfo]:
        return self._endpoint.models()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        body = _body(self._api_names.get(request.model, request.model), request)
        reply = _Reply()
        async with self._endpoint.events("v1/messages", body) as events:
            async for event in events:
                if event.data.get("type") == "error":
                    raise self._endpoint.unavailable(f"stream error: {event.data.get('error')}")
                for out in reply.feed(event.data):
                    yield out
        yield Finished(REASONS.get(reply.reason, "stop"), reply.input_tokens, reply.output_tokens)

    async def health(self) -> ProviderHealth:
        return self._endpoint.health()

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    async def aclose(self) -> None:
        await self._endpoint.aclose()


@dataclass
class _Reply:
    """One streamed message: open tool_use blocks by index, usage and the stop reason."""

    tools: dict[int, tuple[str, str, list[str]]] = field(default_factory=dict)
    reason: str = "end_turn"
    input_tokens: int = 0
    output_tokens: int = 0

    def feed(self, event: dict[str, Any]) -> list[ProviderEvent]:
        """Fold one event in; returns the tokens or the finished tool call it completes."""
        kind = event.get("type")
        if kind == "message_start":
            self.input_tokens = event["message"].get("usage", {}).get("input_tokens", 0)
        elif kind == "content_block_start" and event["content_block"]["type"] == "tool_use":
            block = event["content_block"]
            self.tools[event["index"]] = (block["id"], block["name"], [])
        elif kind == "content_block_delta":
            return self._delta(event["index"], event["delta"])
        elif kind == "content_block_stop" and event["index"] in self.tools:
            call_id, name, parts = self.tools.pop(event["index"])
            return [ToolCallRequested(ToolCall(call_id, name, parse_arguments("".join(parts))))]
        elif kind == "message_delta":
            self.reason = event.get("delta", {}).get("stop_reason") or self.reason
            self.output_tokens = event.get("usage", {}).get("output_tokens", self.output_tokens)
        return []

    def _delta(self, index: int, delta: dict[str, Any]) -> list[ProviderEvent]:
        if delta.get("type") == "text_delta":
            return [TokenDelta(delta["text"])]
        if delta.get("type") == "input_json_delta" and index in self.tools:
            self.tools[index][2].append(delta.get("partial_json", ""))
        return []


def _body(model: str, request: ChatRequest) -> dict[str, Any]:
    """The Messages request. Only `temperature` is sent: newer models refuse it with `top_p`."""
    sampling = request.sampling
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "messages": _turns(request.messages),
        "stream": True,
    }
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    if system:
        body["system"] = system
    if sampling.stop:
        body["stop_sequences"] = list(sampling.stop)
    if request.tools:
        body["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": t.parameters}
            for t in request.tools
        ]
    return body


def _turns(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    """User/assistant turns of content blocks, consecutive blocks of one role in one turn."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _blocks(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [
            {"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}
        ]
    blocks: list[dict[str, Any]] = [
        {"type": "image", "source": {"type": "base64", "media_type": image.mime_type,
                                     "data": base64.b64encode(image.data).decode("ascii")}}
        for image in message.images
    ]  # fmt: skip
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks += [
        {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
        for call in message.tool_calls
    ]
    return blocks
