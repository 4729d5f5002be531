"""Which memories a turn's prompt gets: cosine similarity between the turn (embedded as an e5
query) and each of the user's memories (embedded as passages), best first, the top `count`
that fit the token budget. Vectors are unit length, so the cosine is a dot product; numpy
computes it, off the event loop (`Memories.recall`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from services.assistant.memory.records import MemoryRecord, Vector

MEMORY_OVERHEAD = 2  # the "- " and newline each memory takes in the system prompt


def ranked(query: Vector, memories: Sequence[MemoryRecord]) -> list[MemoryRecord]:
    """`memories`, most similar to `query` first (ties: newest first)."""
    if not memories:
        return []
    matrix = np.stack([m.vector for m in memories])
    scores = matrix @ query.astype(np.float32)
    order = sorted(
        range(len(memories)),
        key=lambda i: (-float(scores[i]), -memories[i].create_time.timestamp()),
    )
    return [memories[i] for i in order]


def within(
    best_first: Sequence[MemoryRecord], count: int, budget: int, tokens: Callable[[str], int]
) -> list[MemoryRecord]:
    """The first `count` memories whose texts together fit `budget` tokens (one that does not
    fit is skipped, a shorter one after it may still)."""
    chosen: list[MemoryRecord] = []
    left = budget
    for memory in best_first:
        if len(chosen) == count:
            break
        cost = tokens(memory.content) + MEMORY_OVERHEAD
        if cost <= left:
            chosen.append(memory)
            left -= cost
    return chosen
