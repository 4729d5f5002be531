"""What the AssistantService RPCs share: the service's parts (one instance per process, made by
`service.build`), the caller's view of a conversation, and the paging and streaming habits of
more than one resource."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from services.assistant import validation
from services.assistant.balances import Balances
from services.assistant.completion_store import CompletionStore
from services.assistant.completions import Completions
from services.assistant.conversation_store import ConversationStore
from services.assistant.grant_store import GrantStore
from services.assistant.images.limits import ImageLimits
from services.assistant.memory.memories import Memories
from services.assistant.memory.store import MemoryStore
from services.assistant.message_store import MessageStore
from services.assistant.profile.profiles import Profiles
from services.assistant.providers.registry import ProviderRegistry
from services.assistant.records import ConversationRecord
from services.assistant.replies import Replies, ReplyEvent
from services.assistant.speech import SpeechClient
from services.assistant.standalone_chats import StandaloneChats
from services.assistant.status_figures import StatusFigures
from services.assistant.sync.feed import LiveSync
from services.assistant.tools import ToolBox
from services.assistant.transcripts import Transcripts
from services.assistant.turns import Turns
from voka import authn, errors, pagination, peer_calls

Context = grpc.aio.ServicerContext[Any, Any]
T = TypeVar("T")
R = TypeVar("R", bound=Message)


@dataclass
class Deps:
    """The service's parts."""

    conversations: ConversationStore
    messages: MessageStore
    completion_store: CompletionStore
    grants: GrantStore
    registry: ProviderRegistry
    tools: ToolBox
    balances: Balances
    turns: Turns
    chats: StandaloneChats
    replies: Replies
    completions: Completions
    speech: SpeechClient
    memories: Memories
    memory_store: MemoryStore
    profiles: Profiles
    status: StatusFigures  # GetStatus's stored figures, kept briefly
    live: LiveSync  # WatchConversations streams
    transcripts: Transcripts  # read for the turns that refer to them
    kinds: Mapping[str, str]  # provider name -> kind (local, openai, anthropic)
    image_limits: ImageLimits  # of the images one user message carries
    max_output_tokens: int
    tool_timeout: float  # default seconds per MCP tool call


def forwarded(context: Context) -> list[tuple[str, str]]:
    """What calls to the speech service carry so it sees the same user: the caller's own
    bearer token; else (an `x-api-key` client, or a service acting for a user, whose token is
    not the user's) the user's name, with the assistant's identity as the actor."""
    metadata = context.invocation_metadata() or ()
    token = [(k, v) for k, v in metadata if k == "authorization" and isinstance(v, str)]
    identity = authn.caller()
    if token and not identity.actor:
        return token
    return list(peer_calls.on_behalf_of(identity.subject))


class AssistantRpcs:
    """The base of every resource's RPCs."""

    def __init__(self, deps: Deps) -> None:
        self._deps = deps

    async def _conversation(self, name: str, path: str = "name") -> ConversationRecord:
        """The conversation a request names, if the caller may see it: INVALID_ARGUMENT for a
        malformed name, NOT_FOUND for one that is missing or someone else's."""
        _, problems = validation.resource_id(name, "conversations", path)
        validation.require(problems)
        return await self._deps.turns.conversation(name)


def page_of(items: Sequence[T], key: str, size: int, token: str) -> tuple[list[T], str]:
    """A page of a small in-memory list in a fixed order (models, servers, tools)."""
    start, problems = pagination.offset_of(token, key)
    validation.require(problems)
    more = start + size < len(items)
    token = pagination.offset_token(key, start + size) if more else ""
    return list(items[start : start + size]), token


def response(make: Callable[..., R], kind: str, message: Message) -> R:
    """A stream response with one event of its `oneof` set."""
    return make(**{kind: message})


async def as_stream(events: AsyncIterator[ReplyEvent], make: Callable[..., R]) -> AsyncIterator[R]:
    """Reply events as stream responses (`make(**{kind: message})`); a failure after the first
    event becomes the last one (`error`), one before it ends the call with its status."""
    started = False
    try:
        async for kind, message in events:
            started = True
            yield response(make, kind, message)
    except errors.VokaError as exc:
        if not started:
            raise
        yield make(error=exc.to_status())
