"""Model id -> provider: every configured provider's models in one catalogue."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from services.assistant.providers.anthropic import AnthropicProvider
from services.assistant.providers.base import ChatProvider, ModelInfo, ProviderHealth
from services.assistant.providers.local import LocalProvider
from services.assistant.providers.openai import OpenAIProvider
from services.assistant.settings import AssistantSettings, ProviderEntry

FACTORIES: dict[str, Callable[[ProviderEntry], ChatProvider]] = {
    "local": LocalProvider,
    "openai": OpenAIProvider,
    "anthropic": AnthropicProvider,
}


class UnknownModel(LookupError):
    """No configured provider serves this model id (maps to NOT_FOUND or INVALID_ARGUMENT)."""

    def __init__(self, model_id: str, known: Sequence[str]) -> None:
        super().__init__(f"unknown model {model_id!r}; configured: {', '.join(known)}")
        self.model_id = model_id
        self.known = tuple(known)


@runtime_checkable
class _Closeable(Protocol):
    async def aclose(self) -> None: ...


@runtime_checkable
class _Warmable(Protocol):
    async def warm(self) -> None: ...


class ProviderRegistry:
    """The configured providers, their models by id, and the default model."""

    def __init__(self, providers: Sequence[ChatProvider], default_model: str = "") -> None:
        self._providers = tuple(providers)
        self._models: dict[str, tuple[ChatProvider, ModelInfo]] = {}
        for provider in self._providers:
            for info in provider.models():
                if info.id in self._models:
                    raise ValueError(f"model id {info.id!r} is configured twice")
                self._models[info.id] = (provider, info)
        if not self._models:
            raise ValueError("no model is configured")
        self._default = default_model or next(iter(self._models))
        if self._default not in self._models:
            raise UnknownModel(self._default, list(self._models))

    @classmethod
    def from_settings(cls, settings: AssistantSettings) -> ProviderRegistry:
        providers = [FACTORIES[entry.kind](entry) for entry in settings.providers]
        return cls(providers, settings.assistant_default_model)

    @property
    def default_model(self) -> str:
        return self._default

    def resolve(self, model_id: str | None) -> tuple[ChatProvider, ModelInfo]:
        """The provider serving `model_id`; None or empty: the default model."""
        found = self._models.get(model_id or self._default)
        if found is None:
            raise UnknownModel(model_id or "", list(self._models))
        return found

    def models(self) -> list[ModelInfo]:
        return [info for _, info in self._models.values()]

    async def health(self) -> list[ProviderHealth]:
        return list(await asyncio.gather(*(p.health() for p in self._providers)))

    async def warm(self) -> None:
        """Load in-process models now, so the first reply does not pay for it."""
        warmable = [p for p in self._providers if isinstance(p, _Warmable)]
        await asyncio.gather(*(p.warm() for p in warmable))

    async def aclose(self) -> None:
        closeable = [p for p in self._providers if isinstance(p, _Closeable)]
        await asyncio.gather(*(p.aclose() for p in closeable))
