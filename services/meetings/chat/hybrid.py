"""Search's hybrid ranking: the passages holding the query's words, ranked by the share of
words they hold (`chat.passages.score`), fused with the passages nearest the query's meaning,
ranked by cosine similarity of their embeddings, by reciprocal rank fusion (RRF).

RRF adds 1 / (K + rank) over the rankings a passage is in, so a passage found by meaning alone
("costs" finding a passage about the budget) ranks beside those found by words, and neither
scale has to be calibrated against the other. The score a caller sees is that sum divided by
its best possible value: 1 for a passage first in every ranking, about 0.5 for one first in
only one of two. Without a query vector (the assistant is away) the words' ranking is the only
one, and its first passage scores 1.

The vector side is an exact scan: the vectors of the passages the caller may see (tenancy and
filters applied in SQL first, `SearchStore.vector_ids`) scored in numpy off the event loop,
from the decoded vectors the service keeps (`chat.vector_cache`). No approximate index sits in
front of it: the tenancy filter would have to run after it and could leave a user's own
passages out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Mapping, Sequence
from datetime import datetime
from typing import TypeVar

from services.meetings.chat.passages import Passage, Ranked, score
from services.meetings.chat.search_store import SearchQuery, SearchStore
from services.meetings.chat.vector_cache import VectorCache
from services.meetings.chat.vectors import Ref
from voka.assistant.v1 import embeddings_pb2

RRF_K = 60
NEAREST = 100  # passages the vector side adds to a ranking, at most
K = TypeVar("K", bound=Hashable)


async def nearest(
    search: SearchStore, cache: VectorCache, query: SearchQuery,
    embedded: embeddings_pb2.EmbedTextsResponse, *, limit: int, floor: float,
    meetings_of: str | None, owner: str | None,
) -> dict[Ref, float]:  # fmt: skip
    """The `limit` passages in scope nearest the query's vector (`embedded`), at least `floor`
    similar: the ids in scope from the database, the vectors the cache lacks read by id, the
    scoring in a worker thread."""
    refs, ids = await search.vector_ids(query, embedded.model, meetings_of=meetings_of,
                                        owner=owner)  # fmt: skip
    missing = cache.missing(ids)
    if missing:
        cache.add(await search.vectors(missing))
    vector = list(embedded.embeddings[0].values)
    return await asyncio.to_thread(cache.nearest, refs, ids, vector, limit=limit, floor=floor)


def _ranks(scores: Mapping[K, float]) -> dict[K, int]:
    """1 for the best; equal scores share a rank (the next differs by how many tie)."""
    ordered = sorted(scores.values(), reverse=True)
    first: dict[float, int] = {}
    for position, value in enumerate(ordered, start=1):
        first.setdefault(value, position)
    return {ref: first[value] for ref, value in scores.items()}


def rank(
    found: Mapping[K, Passage], words: Sequence[str], similar: Mapping[K, float]
) -> list[Ranked]:
    """`found` (the word matches and the vector hits' passages, by any key: Search's refs,
    AskProject's passages themselves) best first by fused rank; equal scores newest first,
    then a fixed order. A passage in neither ranking is left out."""
    lexical = {ref: score(words, p.text) for ref, p in found.items()}
    rankings = [r for r in ({k: v for k, v in lexical.items() if v > 0}, similar) if r]
    fused: dict[K, float] = {}
    for ranking in rankings:
        for ref, position in _ranks(ranking).items():
            fused[ref] = fused.get(ref, 0.0) + 1 / (RRF_K + position)
    best = len(rankings) / (RRF_K + 1)
    ranked = [Ranked(found[ref], value / best) for ref, value in fused.items() if ref in found]
    ranked.sort(key=lambda r: r.passage.key)
    ranked.sort(key=lambda r: (r.score, r.passage.time or datetime.min), reverse=True)
    return ranked
