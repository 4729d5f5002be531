"""The embedding engine and the embedder on the real packaged multilingual-e5-small: meaning
across Spanish and English, e5's prefixes, the cache, coalescing of concurrent calls, and the
limits. The engine is loaded once for the module (a memory map, well under a second)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2

from services.assistant.embeddings.cache import Cached, VectorCache, key_of
from services.assistant.embeddings.e5 import MODEL_ID, MultilingualE5
from services.assistant.embeddings.embedder import Embedder
from services.assistant.embeddings.engine import Embedded, Purpose, own_prefix
from services.assistant.embeddings.limits import Limits
from voka.errors import VokaError


class Counting:
    """The real engine, with a record of the engine calls it served (texts per call)."""

    def __init__(self, engine: MultilingualE5) -> None:
        self._engine = engine
        self.calls: list[int] = []
        self.model = engine.model
        self.dimensions = engine.dimensions

    def embed(self, texts: Sequence[str], purpose: Purpose) -> Embedded:
        self.calls.append(len(texts))
        return self._engine.embed(texts, purpose)


@pytest.fixture(scope="module")
def e5() -> MultilingualE5:
    return MultilingualE5()


@pytest.fixture
async def counted(e5: MultilingualE5) -> AsyncIterator[tuple[Embedder, Counting]]:
    engine = Counting(e5)
    embedder = Embedder(
        [engine], VectorCache(100), Limits(max_texts=8, max_chars=200), max_batch=64,
        max_waiting=16,
    )  # fmt: skip
    yield embedder, engine
    await embedder.aclose()


def test_the_same_meaning_in_spanish_and_english_is_closer_than_another_topic(
    e5: MultilingualE5,
) -> None:
    texts = [
        "The meeting about the budget was moved to Friday.",
        "La reunión sobre el presupuesto se movió al viernes.",
        "My cat likes to sleep in the sun.",
        "Mi gato duerme al sol.",
    ]
    vectors = e5.embed(texts, Purpose.QUERY).vectors
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.1
    assert similarity[0, 1] > similarity[1, 3] + 0.1
    assert similarity[2, 3] > similarity[2, 1] + 0.1


def test_a_query_finds_its_passage_across_languages(e5: MultilingualE5) -> None:
    passages = e5.embed(
        ["El presupuesto del proyecto es de dos mil euros.", "We walked along the beach."],
        Purpose.PASSAGE,
    ).vectors
    query = e5.embed(["How much does the project cost?"], Purpose.QUERY).vectors[0]
    scores = passages @ query
    assert scores[0] > scores[1]


def test_the_purpose_picks_the_prefix_and_a_written_prefix_is_not_added_twice(
    e5: MultilingualE5,
) -> None:
    text = "budget for the new office"
    query, passage = (e5.embed([text], p).vectors[0] for p in Purpose)
    assert not np.allclose(query, passage)
    assert own_prefix(f"query: {text}", Purpose.PASSAGE) == (text, Purpose.QUERY)
    assert own_prefix(f"passage: {text}", Purpose.QUERY) == (text, Purpose.PASSAGE)
    assert own_prefix(text, Purpose.QUERY) == (text, Purpose.QUERY)
    assert e5.embed([text], Purpose.QUERY).tokens[0] < e5.embed([text * 3], Purpose.QUERY).tokens[0]


async def test_a_written_prefix_gives_the_vector_of_its_purpose(
    counted: tuple[Embedder, Counting],
) -> None:
    embedder, _ = counted
    text = "¿Cuándo es la próxima reunión?"
    written = await embedder.embed([f"query: {text}"], "", Purpose.PASSAGE, "texts")
    asked = await embedder.embed([text], "", Purpose.QUERY, "texts")
    assert np.allclose(written.vectors, asked.vectors)
    assert written.tokens == asked.tokens


async def test_a_repeated_text_is_served_from_the_cache(
    counted: tuple[Embedder, Counting],
) -> None:
    embedder, engine = counted
    first = await embedder.embed(["hola", "adiós", "hola"], "", Purpose.QUERY, "texts")
    assert engine.calls == [2]  # "hola" once
    assert np.allclose(first.vectors[0], first.vectors[2])
    again = await embedder.embed(["adiós", "hola"], MODEL_ID, Purpose.QUERY, "texts")
    assert engine.calls == [2]  # no engine call: both cached
    assert np.allclose(again.vectors, first.vectors[[1, 0]])
    assert again.tokens == [first.tokens[1], first.tokens[0]]
    await embedder.embed(["hola"], "", Purpose.PASSAGE, "texts")
    assert engine.calls == [2, 1]  # the passage vector is another entry


async def test_concurrent_calls_are_coalesced_into_few_engine_calls(
    counted: tuple[Embedder, Counting],
) -> None:
    embedder, engine = counted
    texts = [f"Sentence number {n} about the quarterly plan." for n in range(12)]
    results = await asyncio.gather(
        *(embedder.embed([text], "", Purpose.PASSAGE, "texts") for text in texts)
    )
    assert sum(engine.calls) == 12
    assert len(engine.calls) <= 2  # the first alone at most, the others together
    alone = MultilingualE5().embed(texts, Purpose.PASSAGE).vectors
    for row, result in enumerate(results):
        assert np.allclose(result.vectors[0], alone[row], atol=1e-4)


async def test_queries_and_passages_waiting_together_go_in_one_call_each(
    counted: tuple[Embedder, Counting],
) -> None:
    embedder, engine = counted
    calls = [embedder.embed([f"text {n}"], "", list(Purpose)[n % 2], "texts") for n in range(6)]
    await asyncio.gather(*calls)
    assert sum(engine.calls) == 6
    assert len(engine.calls) <= 3


def violations(error: VokaError) -> set[str]:
    """The fields an INVALID_ARGUMENT names in its BadRequest detail."""
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    (bad,) = error.details
    assert isinstance(bad, error_details_pb2.BadRequest)
    return {violation.field for violation in bad.field_violations}


async def test_limits_name_each_bad_text(counted: tuple[Embedder, Counting]) -> None:
    embedder, engine = counted
    with pytest.raises(VokaError) as caught:
        await embedder.embed(["ok", "", "x" * 201], "", Purpose.QUERY, "input")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(caught.value) == {"input[1]", "input[2]"}
    assert "at most 200 characters, got 201" in caught.value.message
    with pytest.raises(VokaError) as caught:
        await embedder.embed(["a"] * 9, "", Purpose.QUERY, "texts")
    assert "texts: at most 8 texts per call, got 9" in caught.value.message
    with pytest.raises(VokaError) as caught:
        await embedder.embed([], "", Purpose.QUERY, "texts")
    assert violations(caught.value) == {"texts"}
    with pytest.raises(VokaError) as caught:
        await embedder.embed(["a"], "text-embedding-3-small", Purpose.QUERY, "texts")
    assert caught.value.code == grpc.StatusCode.NOT_FOUND
    assert engine.calls == []


async def test_too_many_waiting_texts_are_refused_not_queued(
    counted: tuple[Embedder, Counting],
) -> None:
    embedder, engine = counted
    calls = [embedder.embed([f"w{n}-{m}" for m in range(8)], "", Purpose.QUERY, "texts")
             for n in range(3)]  # fmt: skip
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, VokaError)]
    assert [r.code for r in refused] == [grpc.StatusCode.RESOURCE_EXHAUSTED]
    assert "16 texts are waiting" in refused[0].message
    assert sum(engine.calls) == 16


def test_the_cache_drops_the_least_recently_used_beyond_its_bound() -> None:
    cache = VectorCache(2)
    keys = [key_of(MODEL_ID, Purpose.QUERY, text) for text in ("a", "b", "c")]
    entry = Cached(np.zeros(3, dtype=np.float32), 1)
    cache.put(keys[0], entry)
    cache.put(keys[1], entry)
    assert cache.get(keys[0]) is entry  # "a" is now the most recent
    cache.put(keys[2], entry)
    assert len(cache) == 2
    assert cache.get(keys[1]) is None
    assert cache.get(keys[0]) is entry
    nothing = VectorCache(0)
    nothing.put(keys[0], entry)
    assert len(nothing) == 0
