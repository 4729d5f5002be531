"""A turn of a conversation: find (or start) the conversation, resolve model, balance and
tools, build the prompt from its history within the token budget, store the user's message,
and afterwards the tool rounds and the reply with model, usage, timing and finish reason."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from services.assistant import convert, prompt, toolnames
from services.assistant.announce import Announcer, Origin
from services.assistant.balances import Balances
from services.assistant.hemisphere import Balance, InForce, temperature
from services.assistant.providers.base import ChatMessage, ChatRequest, Sampling
from services.assistant.providers.registry import ProviderRegistry, UnknownModel
from services.assistant.records import ConversationRecord
from services.assistant.replies import Outcome
from services.assistant.store import Store, StoredMessage
from services.assistant.tools import McpServerInfo, ToolBox
from voka import errors, wellknown
from voka.assistant.v1 import assistant_pb2, events_pb2
from voka.errors import FieldViolation

A, E = assistant_pb2, events_pb2
TITLE_CHARS = 60


@dataclass(frozen=True)
class TurnInput:
    """What ProcessMessage, StreamReply, a conversation's completion and a voice turn ask."""

    owner: str
    admin: bool
    message: str
    conversation: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    sampling: A.SamplingOptions = field(default_factory=A.SamplingOptions)
    hemisphere: Balance | None = None
    disable_tools: bool = False
    request_id: str = ""
    channel: E.ReplyChannel.ValueType = E.REPLY_CHANNEL_UNSPECIFIED  # the RPC asking
    completion: str = ""  # `completions/{id}` when an async completion asks


@dataclass
class Turn:
    """A turn ready to generate: its conversation, request, tools and (stored) user message."""

    conversation: ConversationRecord
    created: bool
    provider: str
    request: ChatRequest
    allowed: set[str]
    balance: InForce
    number: int
    user: A.Message
    dropped_turns: int
    outcome: Outcome
    origin: Origin
    tool_timeout: float | None  # the conversation's own limit per tool call
    reply: A.Message | None = None


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def sampling(options: A.SamplingOptions, balance: Balance, default_max: int) -> Sampling:
    """The request's sampling; unset temperature comes from the balance."""
    base = Sampling()
    return Sampling(
        max_tokens=options.max_output_tokens or default_max,
        temperature=options.temperature if options.HasField("temperature") else
        temperature(balance),
        top_p=options.top_p if options.HasField("top_p") else base.top_p,
        stop=tuple(options.stop_sequences),
    )  # fmt: skip


def chat_message(message: A.Message) -> ChatMessage:
    """A stored message as the providers take it back."""
    calls = convert.provider_calls(message.tool_calls)
    tool_call_id = message.tool_result.tool_call_id or None
    role = convert.ROLES[message.role]
    return ChatMessage(role, message.content, calls, tool_call_id)  # type: ignore[arg-type]


def turns_of(history: Sequence[StoredMessage]) -> list[list[ChatMessage]]:
    return [
        [chat_message(m.message) for m in group]
        for _, group in groupby(history, key=lambda m: m.turn)
    ]


class Turns:
    """Conversation turns against the store, the providers and the tool box."""

    def __init__(
        self,
        store: Store,
        registry: ProviderRegistry,
        tools: ToolBox,
        balances: Balances,
        announcer: Announcer,
        *,
        max_output_tokens: int,
        context_tokens: int,
    ) -> None:
        self._store = store
        self._registry = registry
        self._tools = tools
        self._balances = balances
        self._announcer = announcer
        self._max_output = max_output_tokens
        self._context_tokens = context_tokens

    def servers(self) -> list[McpServerInfo]:
        return self._tools.servers()

    def tool_name(self, name: str) -> str:
        return toolnames.of_tool(name, self._tools.servers())

    async def visible(self, conversation_id: str, owner: str, admin: bool) -> ConversationRecord:
        """The conversation if the caller may see it; otherwise NOT_FOUND (never revealing
        that someone else's exists)."""
        record = await self._store.conversation(conversation_id)
        if record is None or not (admin or record.owner == owner):
            raise errors.not_found("Conversation", f"conversations/{conversation_id}")
        return record

    async def start_conversation(self, owner: str, settings: A.Conversation) -> ConversationRecord:
        """A new conversation with the given settings (the defaults where unset)."""
        stamp = now()
        policy = settings.tool_policy if settings.HasField("tool_policy") else None
        allowed = tuple(policy.allowed_tools) if policy else toolnames.every_tool(
            self._tools.servers())  # fmt: skip
        has_balance = settings.HasField("hemisphere")
        record = ConversationRecord(
            id=new_id(), owner=owner, display_name=settings.display_name, model=settings.model,
            instructions=settings.instructions, context=convert.plain(settings.context),
            technical=settings.hemisphere.technical if has_balance else None,
            emotional=settings.hemisphere.emotional if has_balance else None,
            hemisphere_time=stamp if has_balance else None, allowed_tools=allowed,
            tool_timeout=policy.tool_timeout.ToTimedelta().total_seconds()
            if policy and policy.HasField("tool_timeout") else None,
            message_count=0, input_tokens=0, output_tokens=0, create_time=stamp,
            update_time=stamp, last_message_time=None, activity_time=stamp,
        )  # fmt: skip
        await self._store.create_conversation(record)
        return record

    def model(self, model_id: str, path: str = "model") -> tuple[str, str]:
        """(provider name, model id) of a requested model; unknown: INVALID_ARGUMENT."""
        try:
            provider, info = self._registry.resolve(model_id or None)
        except UnknownModel as exc:
            raise errors.invalid_argument([FieldViolation(path, str(exc))]) from exc
        return provider.name, info.id

    async def begin(self, ask: TurnInput) -> Turn:
        """Everything a turn needs before generating; nothing is stored yet."""
        if ask.conversation:
            record = await self.visible(ask.conversation.removeprefix("conversations/"),
                                        ask.owner, ask.admin)  # fmt: skip
            created = False
        else:
            title = ask.message.strip().splitlines()[0][:TITLE_CHARS]
            record = await self.start_conversation(ask.owner, A.Conversation(display_name=title))
            created = True
        provider_name, model_id = self.model(ask.model or record.model)
        provider, info = self._registry.resolve(model_id)
        balance = await self._balances.in_force(ask.owner, record, ask.hemisphere)
        history = await self._store.messages(record.id)
        options = sampling(ask.sampling, balance.balance, self._max_output)
        context = {**record.context, **ask.context}
        budget = self._context_tokens or max(info.context_window - options.max_tokens, 0)
        built = prompt.build(
            lambda dropped: prompt.system_text(balance.balance, record.instructions, context,
                                               dropped),
            turns_of(history), ChatMessage("user", ask.message), budget, provider.count_tokens,
        )  # fmt: skip
        number = max((m.turn for m in history), default=-1) + 1
        user = self._message(record, A.MESSAGE_ROLE_USER, content=ask.message,
                             context=convert.struct(ask.context))  # fmt: skip
        allowed = set() if ask.disable_tools else toolnames.allowed(
            record.allowed_tools, self._tools.servers())  # fmt: skip
        request = ChatRequest(model_id, built.messages, options)
        origin = Origin(ask.owner, ask.channel, provider_name, balance.balance.message(),
                        conversation=record.name, completion=ask.completion)  # fmt: skip
        return Turn(record, created, provider_name, request, allowed, balance, number, user,
                    built.dropped_turns, Outcome(model_id), origin,
                    record.tool_timeout)  # fmt: skip

    async def store_user(self, turn: Turn, request_id: str = "") -> None:
        await self._store.append(turn.conversation.id, turn.number, [turn.user],
                                 request_id=request_id or None)  # fmt: skip

    async def finish(self, turn: Turn) -> A.Message:
        """Store the tool rounds and the reply (partial when cancelled or failed), then
        announce `reply.completed`."""
        outcome = turn.outcome
        batch: list[A.Message] = []
        for round_ in outcome.rounds:
            batch.append(self._message(turn.conversation, A.MESSAGE_ROLE_ASSISTANT,
                                       content=round_.text, tool_calls=round_.calls,
                                       finish_reason=A.FINISH_REASON_TOOL_CALLS))  # fmt: skip
            batch += [self._message(turn.conversation, A.MESSAGE_ROLE_TOOL, tool_result=r)
                      for r in round_.results]  # fmt: skip
        reply = self._message(
            turn.conversation, A.MESSAGE_ROLE_ASSISTANT, content=outcome.text,
            model=outcome.model, usage=outcome.usage(), timing=outcome.timing(),
            finish_reason=convert.finish_reason(outcome.finish),
            hemisphere=turn.balance.balance.message(),
        )  # fmt: skip
        await self._store.append(turn.conversation.id, turn.number, [*batch, reply],
                                 usage=(outcome.input_tokens, outcome.output_tokens))  # fmt: skip
        await self._announcer.reply(turn.origin, outcome, reply.name)
        return reply

    async def replay(self, conversation: str, request_id: str) -> list[A.Message]:
        """The stored turn a request id answered (idempotent retries), or []."""
        if not (conversation and request_id):
            return []
        stored = await self._store.turn_of(conversation.removeprefix("conversations/"),
                                           request_id)  # fmt: skip
        return [m.message for m in stored]

    @staticmethod
    def _message(record: ConversationRecord, role: int, **values: Any) -> A.Message:
        return A.Message(name=f"{record.name}/messages/{new_id()}", role=role,  # type: ignore[arg-type]
                         create_time=wellknown.timestamp(now()), **values)  # fmt: skip
