"""The one interface every model provider implements, and the values that cross it.

The chat loop and the service speak only these types, so a local GGUF model, an
OpenAI-compatible API and Anthropic's Messages API are interchangeable behind a model id.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, Literal, Protocol


@dataclass(frozen=True)
class ToolCall:
    """A model's request to run one tool; `id` pairs it with its result message."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Image:
    """An image shown to a vision-capable model, with the type its bytes show."""

    mime_type: str
    data: bytes


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation as every provider understands it. `images` are set
    only for a model configured as vision-capable (others get a description in `content`)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    images: tuple[Image, ...] = ()


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model; `parameters` is a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class Sampling:
    """How a reply is sampled; the service shapes these from the hemisphere balance."""

    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.95
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChatRequest:
    """Everything one generation needs: the finished message list, sampling and tools."""

    model: str
    messages: tuple[ChatMessage, ...]
    sampling: Sampling
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True)
class TokenDelta:
    """A piece of reply text, sent as soon as the provider produced it."""

    text: str


@dataclass(frozen=True)
class ToolCallRequested:
    """The model asked for a tool; the provider's stream ends with Finished("tool_calls")."""

    call: ToolCall


@dataclass(frozen=True)
class Finished:
    """The end of one generation. reason: stop | length | tool_calls | cancelled."""

    reason: str
    prompt_tokens: int
    completion_tokens: int


ProviderEvent = TokenDelta | ToolCallRequested | Finished


@dataclass(frozen=True)
class ModelInfo:
    """A model a provider serves, with what it can do (listed by `GET /chat/models`)."""

    id: str
    provider: str
    context_window: int
    supports_tools: bool
    supports_streaming: bool
    description: str = ""
    supports_vision: bool = False


@dataclass(frozen=True)
class ProviderHealth:
    """Whether a provider answers; `state` is its circuit breaker's: closed | open | half_open."""

    provider: str
    healthy: bool
    state: str
    detail: str


class ChatProvider(Protocol):
    """A source of streamed chat completions."""

    name: str

    def models(self) -> list[ModelInfo]:
        """The models this provider serves."""
        ...

    def stream(self, request: ChatRequest) -> AsyncGenerator[ProviderEvent, None]:
        """Generate a reply; closing the iterator (aclose, task cancel) stops generation."""
        ...

    async def health(self) -> ProviderHealth:
        """The provider's breaker state, and whether it answers."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` takes in the context budget (approximate for remote providers)."""
        ...


class ProviderUnavailable(Exception):
    """The provider cannot answer now (breaker open, connect error, timeout after retries).

    The service maps it to UNAVAILABLE naming `provider`, so a caller never hangs on it.
    """

    def __init__(self, provider: str, detail: str) -> None:
        super().__init__(f"model provider {provider!r} is unavailable: {detail}")
        self.provider = provider
        self.detail = detail


class ProviderRejected(ProviderUnavailable):
    """The provider answered but refused the request (bad key, bad request, prompt too long).

    Not a sign the provider is down, so it does not count against its circuit breaker.
    """
