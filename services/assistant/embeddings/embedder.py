"""The whole path from texts to vectors: the model chosen, the limits checked, each text's own
e5 prefix honoured, cached vectors reused, the rest embedded once each (a text repeated in a call
is embedded once) through the model's batcher, and the cache filled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from services.assistant.embeddings.batcher import Batcher
from services.assistant.embeddings.cache import Cached, Key, VectorCache, key_of
from services.assistant.embeddings.e5 import MultilingualE5
from services.assistant.embeddings.engine import EmbeddingEngine, Purpose, Vectors, own_prefix
from services.assistant.embeddings.limits import Limits
from services.assistant.settings import AssistantSettings
from voka import errors


@dataclass(frozen=True)
class Embeddings:
    """The answer to one call: a row and a token count per text, in the call's order."""

    model: str
    dimensions: int
    vectors: Vectors
    tokens: list[int]


class Embedder:
    """The embedding models of the process, the first one the default."""

    def __init__(
        self,
        engines: Sequence[EmbeddingEngine],
        cache: VectorCache,
        limits: Limits,
        *,
        max_batch: int,
        max_waiting: int,
    ) -> None:
        self._batchers = {e.model: Batcher(e, max_batch, max_waiting) for e in engines}
        self.default_model = engines[0].model
        self._limits = limits
        self._cache = cache

    def engine(self, model: str) -> EmbeddingEngine:
        """The engine of `model` (empty: the default); NOT_FOUND for one not served here."""
        batcher = self._batchers.get(model or self.default_model)
        if batcher is None:
            raise errors.not_found("embedding model", model)
        return batcher.engine

    async def embed(
        self, texts: Sequence[str], model: str, purpose: Purpose, path: str
    ) -> Embeddings:
        """Vectors of `texts` (the request field `path`) with `model` for `purpose`."""
        engine = self.engine(model)
        problems = self._limits.check(texts, path)
        if problems:
            raise errors.invalid_argument(problems)
        items = [own_prefix(text, purpose) for text in texts]
        keys = [key_of(engine.model, chosen, text) for text, chosen in items]
        found = {key: hit for key in set(keys) if (hit := self._cache.get(key)) is not None}
        missing: dict[Purpose, dict[str, Key]] = {}  # texts to embed, once each
        for (text, chosen), key in zip(items, keys, strict=True):
            if key not in found:
                missing.setdefault(chosen, {})[text] = key
        batcher = self._batchers[engine.model]
        results = await asyncio.gather(
            *(batcher.embed(list(group), chosen) for chosen, group in missing.items())
        )
        for group, embedded in zip(missing.values(), results, strict=True):
            for row, (key, tokens) in enumerate(zip(group.values(), embedded.tokens, strict=True)):
                found[key] = Cached(embedded.vectors[row].copy(), tokens)
                self._cache.put(key, found[key])
        rows = [found[key] for key in keys]
        vectors = np.stack([row.vector for row in rows]).astype(np.float32, copy=False)
        return Embeddings(engine.model, engine.dimensions, vectors, [row.tokens for row in rows])

    def forget(self, texts: Sequence[str], purpose: Purpose) -> None:
        """Drop the default model's cached vectors of `texts` (memories deleted or rewritten)."""
        for text in texts:
            self._cache.drop(key_of(self.default_model, purpose, text))

    async def aclose(self) -> None:
        for batcher in self._batchers.values():
            await batcher.aclose()


async def load_embedder(settings: AssistantSettings) -> Embedder:
    """The process's embedder: multilingual-e5-small (mapped from the package, well under a
    second, off the loop) with the configured limits, batching and cache."""
    engine = await asyncio.to_thread(MultilingualE5)
    return Embedder(
        [engine],
        VectorCache(settings.assistant_embedding_cache_entries),
        Limits(settings.assistant_embedding_max_texts, settings.assistant_embedding_max_chars),
        max_batch=settings.assistant_embedding_batch_texts,
        max_waiting=settings.assistant_embedding_max_waiting,
    )
