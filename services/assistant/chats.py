"""Stand-alone chats (CompleteChat, StreamCompleteChat, completions without a conversation):
the caller's message list behind the service's system prompt, nothing stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.assistant import convert, prompt, toolnames
from services.assistant.announce import Announcer, Origin
from services.assistant.balances import Balances
from services.assistant.hemisphere import Balance, InForce
from services.assistant.providers.base import ChatMessage, ChatRequest
from services.assistant.replies import Outcome
from services.assistant.tools import ToolBox
from services.assistant.turns import Turns, sampling
from voka.assistant.v1 import assistant_pb2, events_pb2

A, E = assistant_pb2, events_pb2


@dataclass(frozen=True)
class ChatInput:
    """A stand-alone chat's input, from any of the RPCs that take one."""

    owner: str
    messages: Sequence[A.ChatMessage]
    model: str = ""
    sampling: A.SamplingOptions = field(default_factory=A.SamplingOptions)
    hemisphere: Balance | None = None
    context: dict[str, Any] | None = None
    tools: Sequence[str] = ()
    instructions: str = ""
    channel: E.ReplyChannel.ValueType = E.REPLY_CHANNEL_CHAT
    completion: str = ""  # `completions/{id}` when an async completion asks


@dataclass
class Chat:
    """A stand-alone chat ready to generate."""

    provider: str
    request: ChatRequest
    allowed: set[str]
    balance: InForce
    outcome: Outcome
    origin: Origin
    tool_timeout: float | None = None  # the service's default


def chat_message(message: A.ChatMessage) -> ChatMessage:
    calls = convert.provider_calls(message.tool_calls)
    role = convert.ROLES[message.role]
    return ChatMessage(role, message.content, calls, message.tool_call_id or None)  # type: ignore[arg-type]


def with_prompt(messages: Iterable[A.ChatMessage], text: str) -> list[A.ChatMessage]:
    """A completion's messages followed by its prompt as the last user message."""
    extra = [A.ChatMessage(role=A.MESSAGE_ROLE_USER, content=text)] if text.strip() else []
    return [*messages, *extra]


class Chats:
    """Prepares stand-alone chats and announces their end."""

    def __init__(self, turns: Turns, tools: ToolBox, balances: Balances, announcer: Announcer,
                 max_output: int) -> None:  # fmt: skip
        self._turns = turns
        self._tools = tools
        self.balances = balances
        self._announcer = announcer
        self._max_output = max_output

    async def prepare(self, ask: ChatInput, model_path: str = "model") -> Chat:
        provider, model_id = self._turns.model(ask.model, model_path)
        balance = await self.balances.in_force(ask.owner, override=ask.hemisphere)
        system = prompt.system_text(balance.balance, ask.instructions, ask.context or {})
        messages = (ChatMessage("system", system), *(chat_message(m) for m in ask.messages))
        options = sampling(ask.sampling, balance.balance, self._max_output)
        allowed = toolnames.allowed(ask.tools, self._tools.servers())
        request = ChatRequest(model_id, messages, options)
        origin = Origin(ask.owner, ask.channel, provider, balance.balance.message(),
                        completion=ask.completion)  # fmt: skip
        return Chat(provider, request, allowed, balance, Outcome(model_id), origin)

    async def finish(self, chat: Chat) -> None:
        """A stand-alone chat ended (nothing is stored): announce `reply.completed`."""
        await self._announcer.reply(chat.origin, chat.outcome)
