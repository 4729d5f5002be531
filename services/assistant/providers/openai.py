"""Any OpenAI-compatible chat API (OpenAI, vLLM, llama.cpp server, Ollama, LiteLLM).

Streams `POST {base_url}/chat/completions` with `stream: true`: text deltas become tokens, tool
calls arrive as argument fragments keyed by index and are handed over whole at the end.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from services.assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    Image,
    ModelInfo,
    ProviderEvent,
    ProviderHealth,
    TokenDelta,
    ToolCall,
    ToolCallRequested,
)
from services.assistant.providers.remote import RemoteEndpoint, approx_tokens, parse_arguments
from services.assistant.settings import ProviderEntry

DEFAULT_BASE_URL = "https://api.openai.com/v1"
REASONS = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}


class OpenAIProvider:
    """A provider speaking OpenAI's chat completions protocol."""

    def __init__(self, entry: ProviderEntry) -> None:
        self.name = entry.name
        key = entry.api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._endpoint = RemoteEndpoint(entry, entry.base_url or DEFAULT_BASE_URL, headers)
        self._api_names = {model.id: model.api_name for model in entry.models}

    def models(self) -> list[ModelInfo]:
        return self._endpoint.models()

    async def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        body = _body(self._api_names.get(request.model, request.model), request)
        reply = _Reply()
        async with self._endpoint.events("chat/completions", body) as events:
            async for event in events:
                if "error" in event.data:  # vLLM, LiteLLM and others report failures in-stream
                    raise self._endpoint.unavailable(f"stream error: {event.data['error']}")
                for delta in reply.feed(event.data):
                    yield delta
        for done in reply.finish(request):
            yield done

    async def health(self) -> ProviderHealth:
        return self._endpoint.health()

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    async def aclose(self) -> None:
        await self._endpoint.aclose()


@dataclass
class _Slot:
    """One tool call being assembled from its streamed fragments."""

    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _Reply:
    """The state of one streamed reply: its text, its tool calls so far, how it ended."""

    text: str = ""
    calls: dict[int, _Slot] = field(default_factory=dict)
    reason: str = "stop"
    usage: dict[str, int] = field(default_factory=dict)

    def feed(self, chunk: dict[str, Any]) -> list[TokenDelta]:
        """Fold one chunk in; the text it carries comes back to be sent at once."""
        self.usage = chunk.get("usage") or self.usage
        tokens = []
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text += delta["content"]
                tokens.append(TokenDelta(delta["content"]))
            for fragment in delta.get("tool_calls") or ():
                self._merge(fragment)
            self.reason = choice.get("finish_reason") or self.reason
        return tokens

    def finish(self, request: ChatRequest) -> list[ProviderEvent]:
        """The whole tool calls, then Finished (token counts estimated if the API sent none)."""
        events: list[ProviderEvent] = [
            ToolCallRequested(ToolCall(s.id or f"call_{i}", s.name, parse_arguments(s.arguments)))
            for i, s in sorted(self.calls.items())
        ]
        prompt = self.usage.get("prompt_tokens") or approx_tokens(
            "".join(m.content for m in request.messages)
        )
        completion = self.usage.get("completion_tokens") or approx_tokens(self.text)
        reason = "tool_calls" if self.calls else REASONS.get(self.reason, "stop")
        events.append(Finished(reason, prompt, completion))
        return events

    def _merge(self, fragment: dict[str, Any]) -> None:
        slot = self.calls.setdefault(fragment.get("index", 0), _Slot())
        slot.id = fragment.get("id") or slot.id
        function = fragment.get("function") or {}
        slot.name += function.get("name") or ""
        slot.arguments += function.get("arguments") or ""


def data_url(image: Image) -> str:
    """The image inline, as OpenAI-compatible APIs take it in an `image_url` part."""
    return f"data:{image.mime_type};base64,{base64.b64encode(image.data).decode('ascii')}"


def _body(model: str, request: ChatRequest) -> dict[str, Any]:
    sampling = request.sampling
    body: dict[str, Any] = {
        "model": model,
        "messages": [_message(m) for m in request.messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
    }
    if sampling.stop:
        body["stop"] = list(sampling.stop)
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
    return body


def _message(message: ChatMessage) -> dict[str, Any]:
    if message.role == "tool":
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    wire: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.images:
        wire["content"] = [{"type": "text", "text": message.content}] + [
            {"type": "image_url", "image_url": {"url": data_url(image)}} for image in message.images
        ]
    if message.tool_calls:
        wire["content"] = message.content or None
        wire["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return wire
