"""The embedded SmolLM2 through llama-cpp-python: it really answers (a few tokens each time)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from services.assistant.providers.base import (
    ChatMessage,
    ChatRequest,
    Finished,
    ProviderEvent,
    ProviderUnavailable,
    Sampling,
    TokenDelta,
)
from services.assistant.providers.local import LocalProvider
from services.assistant.providers.registry import ProviderRegistry
from services.assistant.settings import EMBEDDED_MODEL_ID, AssistantSettings, embedded_provider

REQUEST = ChatRequest(
    model=EMBEDDED_MODEL_ID,
    messages=(ChatMessage("system", "You are Vicky."), ChatMessage("user", "Say hello.")),
    sampling=Sampling(max_tokens=8, temperature=0.0),
)


async def collect(provider: LocalProvider, request: ChatRequest = REQUEST) -> list[ProviderEvent]:
    return [event async for event in provider.stream(request)]


async def test_the_packaged_model_is_the_default_with_no_configuration() -> None:
    registry = ProviderRegistry.from_settings(AssistantSettings(service="assistant"))
    provider, info = registry.resolve(None)
    await registry.aclose()
    assert (provider.name, info.id, info.provider) == ("local", EMBEDDED_MODEL_ID, "local")
    assert (info.supports_streaming, info.supports_tools) == (True, False)
    path = embedded_provider().model_path
    assert path is not None
    assert path.suffix == ".gguf"
    assert path.stat().st_size > 50_000_000


async def test_warming_the_registry_loads_the_local_model() -> None:
    registry = ProviderRegistry.from_settings(AssistantSettings(service="assistant"))
    [before] = await registry.health()
    await registry.warm()
    [after] = await registry.health()
    assert before.detail.endswith("0 of 1 copies loaded")
    assert after.detail.endswith("1 of 1 copies loaded")
    await registry.aclose()


async def test_the_local_model_answers_token_by_token(local_provider: LocalProvider) -> None:
    events = await collect(local_provider)
    *tokens, finished = events
    assert tokens
    assert all(isinstance(t, TokenDelta) for t in tokens)
    assert "".join(t.text for t in tokens if isinstance(t, TokenDelta)).strip()
    assert isinstance(finished, Finished)
    assert finished.reason in {"stop", "length"}
    assert 0 < finished.completion_tokens <= 8
    assert finished.prompt_tokens > local_provider.count_tokens("You are Vicky. Say hello.")


async def test_greedy_answers_repeat(local_provider: LocalProvider) -> None:
    assert await collect(local_provider) == await collect(local_provider)


async def test_concurrent_requests_share_the_one_loaded_copy(local_provider: LocalProvider) -> None:
    short = ChatRequest(REQUEST.model, REQUEST.messages, Sampling(max_tokens=4, temperature=0.0))
    first, second = await asyncio.gather(
        collect(local_provider, short), collect(local_provider, short)
    )
    assert first == second
    assert isinstance(first[-1], Finished)


def test_count_tokens_uses_the_models_tokenizer(local_provider: LocalProvider) -> None:
    assert local_provider.count_tokens("") == 0
    assert local_provider.count_tokens("Hello there") == 2
    assert local_provider.count_tokens("Hello there, how are you today?") > 2


async def test_health_reports_the_loaded_model(local_provider: LocalProvider) -> None:
    health = await local_provider.health()
    assert (health.provider, health.healthy, health.state) == ("local", True, "closed")
    assert health.detail.endswith("1 of 1 copies loaded")


async def test_a_missing_model_file_is_unavailable(tmp_path: Path) -> None:
    entry = embedded_provider().model_copy(update={"model_path": tmp_path / "gone.gguf"})
    provider = LocalProvider(entry)
    with pytest.raises(ProviderUnavailable, match=r"'local'.*model file missing"):
        await collect(provider)
    health = await provider.health()
    assert not health.healthy
    assert "missing" in health.detail
    await provider.aclose()
