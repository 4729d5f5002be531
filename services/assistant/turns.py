"""A turn of a conversation: find (or start) the conversation, resolve model, balance and
tools (the conversation's allow-list within its owner's MCP grant), build the prompt from its
history within the token budget (with the owner's recalled memories and profile, and a summary
of the turns left out), store the user's message, stream the reply, and afterwards store the
tool rounds and the reply with model, usage, timing and finish reason, then learn what the
owner's message says worth remembering.

Replies being generated are kept by conversation, so deleting a conversation stops them."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, Iterable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from services.assistant import convert, prompt, summary, toolnames, transcripts
from services.assistant.announce import Announcer, Origin
from services.assistant.balances import Balances
from services.assistant.conversation_store import ConversationStore
from services.assistant.grant_store import GrantStore
from services.assistant.hemisphere import Balance, InForce, temperature
from services.assistant.images.attachments import Attachments, shown
from services.assistant.memory.memories import Memories
from services.assistant.message_store import MessageStore
from services.assistant.profile.profiles import Profiles, prompt_lines
from services.assistant.providers.base import ChatMessage, ChatRequest, Sampling
from services.assistant.providers.registry import ProviderRegistry, UnknownModel
from services.assistant.records import ConversationRecord, StoredMessage
from services.assistant.replies import Outcome, Replies, ReplyEvent
from services.assistant.tools import McpServerInfo, ToolBox
from services.assistant.transcripts import Transcript
from voka import errors, tenancy, wellknown
from voka.assistant.v1 import assistant_pb2, events_pb2
from voka.errors import FieldViolation

log = logging.getLogger(__name__)

TITLE_CHARS = 60


@dataclass(frozen=True)
class TurnInput:
    """What ProcessMessage, StreamReply, a conversation's completion and a voice turn ask."""

    owner: str
    message: str
    conversation: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    sampling: assistant_pb2.SamplingOptions = field(default_factory=assistant_pb2.SamplingOptions)
    hemisphere: Balance | None = None
    disable_tools: bool = False
    request_id: str = ""
    channel: events_pb2.ReplyChannel.ValueType = events_pb2.REPLY_CHANNEL_UNSPECIFIED
    completion: str = ""  # `completions/{id}` when an async completion asks
    images: tuple[assistant_pb2.ImageAttachment, ...] = ()  # validated (`images.limits`)
    transcripts: tuple[Transcript, ...] = ()  # read as the caller (`transcripts`)


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
    user: assistant_pb2.Message
    dropped_turns: int
    outcome: Outcome
    origin: Origin
    tool_timeout: float | None  # the conversation's own limit per tool call
    summary: str = ""  # of the turns left out of the prompt: the conversation's context_summary
    reply: assistant_pb2.Message | None = None


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def sampling(
    options: assistant_pb2.SamplingOptions, balance: Balance, default_max: int
) -> Sampling:
    """The request's sampling; unset temperature comes from the balance."""
    base = Sampling()
    return Sampling(
        max_tokens=options.max_output_tokens or default_max,
        temperature=options.temperature
        if options.HasField("temperature")
        else temperature(balance),
        top_p=options.top_p if options.HasField("top_p") else base.top_p,
        stop=tuple(options.stop_sequences),
    )


def chat_message(message: assistant_pb2.Message, *, sees: bool = False) -> ChatMessage:
    """A stored message as the providers take it back; its images as the model can take
    them (`sees`: it is vision-capable)."""
    calls = convert.provider_calls(message.tool_calls)
    tool_call_id = message.tool_result.tool_call_id or None
    role = convert.ROLES[message.role]
    content, images = shown(message, sees=sees)
    return ChatMessage(role, content, calls, tool_call_id, images)  # type: ignore[arg-type]


def turns_of(history: Sequence[StoredMessage], *, sees: bool) -> list[list[ChatMessage]]:
    return [
        [chat_message(m.message, sees=sees) for m in group]
        for _, group in groupby(history, key=lambda m: m.turn)
    ]


class Turns:
    """Conversation turns against the stores, the providers and the tool box."""

    def __init__(
        self,
        conversations: ConversationStore,
        messages: MessageStore,
        registry: ProviderRegistry,
        tools: ToolBox,
        balances: Balances,
        *,
        grants: GrantStore,
        replies: Replies,
        announcer: Announcer,
        memories: Memories,
        profiles: Profiles,
        attachments: Attachments,
        max_output_tokens: int,
        context_tokens: int,
        transcript_tokens: int,
    ) -> None:
        self._conversations = conversations
        self._messages = messages
        self._registry = registry
        self._tools = tools
        self._balances = balances
        self._grants = grants
        self._replies = replies
        self._announcer = announcer
        self._memories = memories
        self._profiles = profiles
        self._attachments = attachments
        self._max_output = max_output_tokens
        self._context_tokens = context_tokens
        self._transcript_tokens = transcript_tokens  # per transcription a turn refers to
        # Replies being generated, by conversation id: deleting a conversation cancels them.
        self._live: dict[str, set[asyncio.Task[object]]] = {}

    def servers(self) -> list[McpServerInfo]:
        return self._tools.servers()

    def tool_name(self, name: str) -> str:
        return toolnames.of_tool(name, self._tools.servers())

    async def usable_tools(self, owner: str, wanted: Iterable[str]) -> set[str]:
        """The tool names an allow-list (a conversation's, a chat's) admits among those an admin
        granted `owner`: MCP tools are opt-in per user (issue 15, item 10), so none without a
        grant. Read at every turn, so a grant or a revocation applies from the next one."""
        grant = await self._grants.get(owner)
        if grant is None:
            return set()
        servers = self._tools.servers()
        return toolnames.allowed(wanted, servers) & toolnames.allowed(grant.allowed_tools, servers)

    async def conversation(self, name: str) -> ConversationRecord:
        """The conversation `name` as the caller may see it (`voka.tenancy`): NOT_FOUND when
        it is missing or someone else's, never revealing that it exists."""
        record = await self._conversations.get(name.removeprefix("conversations/"))
        tenancy.require_visible(record.owner if record else None, "Conversation", name)
        assert record is not None
        return record

    async def existing(self, name: str) -> ConversationRecord:
        """For work without a caller (an async completion, checked when it was created): the
        conversation `name`, NOT_FOUND when it was deleted since."""
        record = await self._conversations.get(name.removeprefix("conversations/"))
        if record is None:
            raise errors.not_found("Conversation", name)
        return record

    async def start_conversation(
        self, owner: str, settings: assistant_pb2.Conversation
    ) -> ConversationRecord:
        """A new conversation with the given settings (the defaults where unset)."""
        stamp = now()
        policy = settings.tool_policy if settings.HasField("tool_policy") else None
        if policy is not None:
            allowed = tuple(policy.allowed_tools)
        else:
            allowed = toolnames.every_tool(self._tools.servers())
        has_balance = settings.HasField("hemisphere")
        timeout = policy.tool_timeout if policy and policy.HasField("tool_timeout") else None
        record = ConversationRecord(
            id=new_id(),
            owner=owner,
            display_name=settings.display_name,
            model=settings.model,
            instructions=settings.instructions,
            context=convert.plain(settings.context),
            technical=settings.hemisphere.technical if has_balance else None,
            emotional=settings.hemisphere.emotional if has_balance else None,
            hemisphere_time=stamp if has_balance else None,
            allowed_tools=allowed,
            tool_timeout=timeout.ToTimedelta().total_seconds() if timeout else None,
            message_count=0,
            input_tokens=0,
            output_tokens=0,
            create_time=stamp,
            update_time=stamp,
            last_message_time=None,
            activity_time=stamp,
        )
        await self._conversations.create(record)
        return record

    def model(self, model_id: str, path: str = "model") -> tuple[str, str]:
        """(provider name, model id) of a requested model; unknown: INVALID_ARGUMENT."""
        try:
            provider, info = self._registry.resolve(model_id or None)
        except UnknownModel as exc:
            raise errors.invalid_argument([FieldViolation(path, str(exc))]) from exc
        return provider.name, info.id

    def sees(self, model_id: str) -> bool:
        """Whether the model (known) takes images itself: configured as vision-capable."""
        return self._registry.resolve(model_id)[1].supports_vision

    async def begin(self, ask: TurnInput, record: ConversationRecord | None) -> Turn:
        """Everything a turn needs before generating, in `record` (found by the caller) or, with
        None, in a new conversation titled after the message; nothing is stored yet."""
        created = record is None
        if record is None:
            title = ask.message.strip().splitlines()[0][:TITLE_CHARS]
            record = await self.start_conversation(
                ask.owner, assistant_pb2.Conversation(display_name=title)
            )
        provider_name, model_id = self.model(ask.model or record.model)
        provider, info = self._registry.resolve(model_id)
        balance = await self._balances.in_force(ask.owner, record, ask.hemisphere)
        history = await self._messages.after(record.id)
        options = sampling(ask.sampling, balance.balance, self._max_output)
        context = {**record.context, **ask.context}
        budget = self._context_tokens or max(info.context_window - options.max_tokens, 0)
        remembered = await self._memories.recall(record.owner, ask.message, provider.count_tokens)
        preferences = prompt_lines(await self._profiles.get(record.owner))
        earlier = turns_of(history, sees=info.supports_vision)
        chars = summary.bound(budget)
        referred = transcripts.prompt_text(
            ask.transcripts, self._transcript_tokens, provider.count_tokens
        )

        def system(left_out: Sequence[prompt.Turn]) -> str:
            return prompt.system_text(
                balance.balance, record.instructions, context, len(left_out),
                summary=summary.extractive(left_out, chars), memories=remembered,
                preferences=preferences, transcripts=referred,
            )  # fmt: skip

        number = max((m.turn for m in history), default=-1) + 1
        user = self._message(
            record,
            assistant_pb2.MESSAGE_ROLE_USER,
            content=ask.message,
            context=convert.struct(ask.context),
            images=await self._attachments.stored(ask.images, ask.owner, sees=info.supports_vision),
        )
        message = chat_message(user, sees=info.supports_vision)
        built = prompt.build(system, earlier, message, budget, provider.count_tokens)
        wanted = () if ask.disable_tools else record.allowed_tools
        allowed = await self.usable_tools(record.owner, wanted)
        request = ChatRequest(model_id, built.messages, options)
        origin = Origin(
            ask.owner,
            ask.channel,
            provider_name,
            balance.balance.message(),
            conversation=record.name,
            completion=ask.completion,
        )
        return Turn(
            record, created, provider_name, request, allowed, balance, number, user,
            built.dropped_turns, Outcome(model_id), origin, record.tool_timeout,
            summary.extractive(earlier[: built.dropped_turns], chars),
        )  # fmt: skip

    async def stream(self, turn: Turn, request_id: str = "") -> AsyncGenerator[ReplyEvent, None]:
        """The turn in a provider slot: started, deltas and tool events, completed. The turn is
        stored whatever happens (a cancelled or failed reply keeps its partial text and
        finish reason)."""
        async with self._replies.slot(turn.provider) as waited:
            turn.outcome.queue = waited
            await self.store_user(turn, request_id)
            live = self._live.setdefault(turn.conversation.id, set())
            task = asyncio.current_task()
            assert task is not None
            live.add(task)
            yield (
                "started",
                assistant_pb2.ReplyStarted(
                    conversation=turn.conversation.name,
                    conversation_created=turn.created,
                    user_message=turn.user.name,
                    model=turn.outcome.model,
                    hemisphere=turn.balance.balance.message(),
                ),
            )
            try:
                # Closed with this generator, so a reply left mid-way is marked cancelled.
                async with aclosing(self._replies.events(turn, self.tool_name)) as events:
                    async for event in events:
                        yield event
            finally:
                live.discard(task)
                turn.reply = await asyncio.shield(self.finish(turn))
                await asyncio.shield(self.learn(turn))
        yield "completed", turn.outcome.completed(turn.reply.name)

    def stop_replies(self, conversation_id: str) -> None:
        """Cancel the replies being generated in a conversation (it is being deleted)."""
        for task in self._live.pop(conversation_id, set()):
            task.cancel()

    async def store_user(self, turn: Turn, request_id: str = "") -> None:
        await self._messages.append(
            turn.conversation.id, turn.number, [turn.user], request_id=request_id or None
        )
        if turn.summary != turn.conversation.context_summary:
            await self._conversations.summarise(turn.conversation.id, turn.summary)

    async def learn(self, turn: Turn) -> None:
        """After the turn: remember what the owner's message says worth remembering (only the
        owner's own words: an admin writing in someone's conversation teaches nothing). Best
        effort: a failure is logged and never reaches the reply, which is stored already."""
        owner = turn.conversation.owner
        if turn.origin.owner != owner:
            return
        try:
            await self._memories.learn(owner, turn.conversation.name, turn.user.content)
        except Exception:
            log.exception("memories of %s not learned from %s", owner, turn.user.name)

    async def finish(self, turn: Turn) -> assistant_pb2.Message:
        """Store the tool rounds and the reply (partial when cancelled or failed), with the
        `reply.completed` event in the same transaction."""
        outcome = turn.outcome
        batch: list[assistant_pb2.Message] = []
        for round_ in outcome.rounds:
            batch.append(
                self._message(
                    turn.conversation,
                    assistant_pb2.MESSAGE_ROLE_ASSISTANT,
                    content=round_.text,
                    tool_calls=round_.calls,
                    finish_reason=assistant_pb2.FINISH_REASON_TOOL_CALLS,
                )
            )
            batch += [
                self._message(turn.conversation, assistant_pb2.MESSAGE_ROLE_TOOL, tool_result=r)
                for r in round_.results
            ]
        reply = self._message(
            turn.conversation,
            assistant_pb2.MESSAGE_ROLE_ASSISTANT,
            content=outcome.text,
            model=outcome.model,
            usage=outcome.usage(),
            timing=outcome.timing(),
            finish_reason=convert.finish_reason(outcome.finish),
            hemisphere=turn.balance.balance.message(),
        )
        await self._messages.append(
            turn.conversation.id,
            turn.number,
            [*batch, reply],
            usage=(outcome.input_tokens, outcome.output_tokens),
            events=[self._announcer.reply_event(turn.origin, outcome, reply.name)],
        )
        return reply

    async def replay(self, conversation: str, request_id: str) -> list[assistant_pb2.Message]:
        """The stored turn a request id answered (idempotent retries), or []."""
        if not (conversation and request_id):
            return []
        stored = await self._messages.turn_of(
            conversation.removeprefix("conversations/"), request_id
        )
        return [m.message for m in stored]

    @staticmethod
    def _message(record: ConversationRecord, role: int, **values: Any) -> assistant_pb2.Message:
        return assistant_pb2.Message(
            name=f"{record.name}/messages/{new_id()}",
            role=role,  # type: ignore[arg-type]
            create_time=wellknown.timestamp(now()),
            **values,
        )
