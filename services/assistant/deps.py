"""What the RPC handlers share: the store, the providers, the tools and the engines built on
them. One instance per process, made by `service.build`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from services.assistant.balances import Balances
from services.assistant.chats import Chats
from services.assistant.completions import Completions
from services.assistant.providers.registry import ProviderRegistry
from services.assistant.replies import Replies
from services.assistant.speech import SpeechClient
from services.assistant.store import Store
from services.assistant.tools import ToolBox
from services.assistant.turns import Turns
from voka import authn


@dataclass
class Deps:
    """The service's parts."""

    store: Store
    registry: ProviderRegistry
    tools: ToolBox
    balances: Balances
    turns: Turns
    chats: Chats
    replies: Replies
    completions: Completions
    speech: SpeechClient
    kinds: Mapping[str, str]  # provider name -> kind (local, openai, anthropic)
    max_output_tokens: int
    tool_timeout: float  # default seconds per MCP tool call
    # Replies being generated, by conversation id: deleting a conversation cancels them.
    live: dict[str, set[asyncio.Task[object]]] = field(default_factory=dict)


def owner_filter(requested: str) -> str | None:
    """Whose rows a list shows: admins any owner (or all), everyone else their own."""
    identity = authn.caller()
    if identity.is_admin:
        return requested or None
    return identity.subject
