"""Stand-alone chats (CompleteChat, StreamCompleteChat, completions without a conversation):
the caller's message list behind the service's system prompt, nothing stored."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any

from services.assistant import convert, prompt
from services.assistant.announce import Announcer, Origin
from services.assistant.balances import Balances
from services.assistant.hemisphere import Balance, InForce
from services.assistant.images.attachments import Attachments, shown
from services.assistant.providers.base import ChatMessage, ChatRequest
from services.assistant.replies import Outcome, Replies, ReplyEvent
from services.assistant.turns import Turns, sampling
from voka.assistant.v1 import assistant_pb2, events_pb2


@dataclass(frozen=True)
class ChatInput:
    """A stand-alone chat's input, from any of the RPCs that take one."""

    owner: str
    messages: Sequence[assistant_pb2.ChatMessage]
    model: str = ""
    sampling: assistant_pb2.SamplingOptions = field(default_factory=assistant_pb2.SamplingOptions)
    hemisphere: Balance | None = None
    context: dict[str, Any] | None = None
    tools: Sequence[str] = ()
    instructions: str = ""
    channel: events_pb2.ReplyChannel.ValueType = events_pb2.REPLY_CHANNEL_CHAT
    completion: str = ""  # `completions/{id}` when an async completion asks
    persona: bool = True  # False: the caller's own system messages replace the service's


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


def chat_message(message: assistant_pb2.ChatMessage, *, sees: bool = False) -> ChatMessage:
    """A caller's message as the providers take it, its images (described already unless
    the model `sees` them) shown as `images.attachments.shown` says."""
    calls = convert.provider_calls(message.tool_calls)
    role = convert.ROLES[message.role]
    content, images = shown(message, sees=sees)
    return ChatMessage(role, content, calls, message.tool_call_id or None, images)  # type: ignore[arg-type]


def with_prompt(
    messages: Iterable[assistant_pb2.ChatMessage], text: str
) -> list[assistant_pb2.ChatMessage]:
    """A completion's messages followed by its prompt as the last user message."""
    if not text.strip():
        return list(messages)
    prompt_message = assistant_pb2.ChatMessage(role=assistant_pb2.MESSAGE_ROLE_USER, content=text)
    return [*messages, prompt_message]


class StandaloneChats:
    """Prepares stand-alone chats, streams them in a provider slot and announces their end."""

    def __init__(
        self,
        turns: Turns,
        balances: Balances,
        replies: Replies,
        announcer: Announcer,
        *,
        attachments: Attachments,
        max_output: int,
    ) -> None:
        self._turns = turns
        self._attachments = attachments
        self.balances = balances
        self._replies = replies
        self._announcer = announcer
        self._max_output = max_output

    async def prepare(self, ask: ChatInput, model_path: str = "model") -> Chat:
        provider, model_id = self._turns.model(ask.model, model_path)
        balance = await self.balances.in_force(ask.owner, override=ask.hemisphere)
        system = prompt.system_text(balance.balance, ask.instructions, ask.context or {})
        head = (ChatMessage("system", system),) if ask.persona else ()
        sees = self._turns.sees(model_id)
        messages = (*head, *[await self._shown(m, ask.owner, sees) for m in ask.messages])
        options = sampling(ask.sampling, balance.balance, self._max_output)
        allowed = await self._turns.usable_tools(ask.owner, ask.tools)
        request = ChatRequest(model_id, messages, options)
        origin = Origin(
            ask.owner,
            ask.channel,
            provider,
            balance.balance.message(),
            completion=ask.completion,
        )
        return Chat(provider, request, allowed, balance, Outcome(model_id), origin)

    async def _shown(
        self, message: assistant_pb2.ChatMessage, owner: str, sees: bool
    ) -> ChatMessage:
        """The message for the model, its images described unless the model sees them."""
        if not message.images:
            return chat_message(message)
        seen = assistant_pb2.ChatMessage()
        seen.CopyFrom(message)
        del seen.images[:]
        seen.images.extend(await self._attachments.stored(message.images, owner, sees=sees))
        return chat_message(seen, sees=sees)

    async def stream(self, chat: Chat) -> AsyncGenerator[ReplyEvent, None]:
        """The chat in a provider slot: started, deltas and tool events, completed; its end
        is announced whatever happens."""
        async with self._replies.slot(chat.provider) as waited:
            chat.outcome.queue = waited
            yield (
                "started",
                assistant_pb2.ReplyStarted(
                    model=chat.outcome.model, hemisphere=chat.balance.balance.message()
                ),
            )
            try:
                tool_name = self._turns.tool_name
                async with aclosing(self._replies.events(chat, tool_name)) as events:
                    async for event in events:
                        yield event
            finally:
                # Nothing is stored: the end is announced as `reply.completed`.
                await asyncio.shield(self._announcer.reply(chat.origin, chat.outcome))
        yield "completed", chat.outcome.completed()
