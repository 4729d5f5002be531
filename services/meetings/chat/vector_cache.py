"""The vectors Search scores, kept decoded in process memory, so a search reads only the ids of
the vectors in the caller's scope from the database, not their bytes (1.5 KB each at 384
dimensions: 150 MB for 100 000 passages, which PostgreSQL sends as hex text).

Each stored vector row has an id that changes whenever the row is written again (the indexer
re-embeds changed content under a new id), so a cached vector is never stale: an id either
holds the vector it was written with or is gone. Vectors live in one float32 matrix that grows
(doubling) up to `capacity` rows; when it is full the cache starts over empty (vectors are read
back as searches need them). A search whose scope alone holds more vectors than `capacity`
ranks by meaning only the ones that fit, and all of it by words.

Reads run in a worker thread while the event loop may add: adding writes rows no index points
to yet, then swaps in a new (matrix, index) pair at once, so a reader that took the pair at its
start always sees a consistent one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from services.meetings.chat.vectors import Ref, decode

MIN_ROWS = 1024


class VectorCache:
    """Decoded vectors by vector row id, at most `capacity` of them."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        # The matrix and the index of its rows, swapped together (readers take both at once).
        self._state: tuple[np.ndarray | None, dict[str, int]] = (None, {})

    def missing(self, ids: Sequence[str]) -> list[str]:
        rows = self._state[1]
        return [i for i in ids if i not in rows]

    def add(self, vectors: Mapping[str, bytes]) -> None:
        """Keeps `vectors` (id → stored bytes), starting over when they do not fit."""
        if not vectors:
            return
        ids = list(vectors)[: self._capacity]
        decoded = decode([vectors[i] for i in ids])
        matrix, rows = self._state
        if matrix is None or matrix.shape[1] != decoded.shape[1] or (
            len(rows) + len(ids) > self._capacity
        ):  # fmt: skip
            matrix, rows = None, {}
        used = len(rows)
        if matrix is None or matrix.shape[0] < used + len(ids):
            size = min(self._capacity, max(MIN_ROWS, 2 * (used + len(ids))))
            grown = np.empty((size, decoded.shape[1]), dtype=np.float32)
            if matrix is not None:
                grown[:used] = matrix[:used]
            matrix = grown
        matrix[used : used + len(ids)] = decoded  # rows no reader's index points to yet
        self._state = (matrix, rows | {vector_id: used + n for n, vector_id in enumerate(ids)})

    def nearest(
        self, refs: Sequence[Ref], ids: Sequence[str], query: Sequence[float], *, limit: int,
        floor: float,
    ) -> dict[Ref, float]:  # fmt: skip
        """The `limit` passages (`refs`, their vectors' `ids`) most similar to `query` (cosine:
        the dot product of unit vectors), those at least `floor` similar; ids not cached are
        left out. CPU-bound: run it in a thread."""
        matrix, rows = self._state
        if matrix is None or not ids:
            return {}
        found = [(ref, rows[i]) for ref, i in zip(refs, ids, strict=True) if i in rows]
        if not found:
            return {}
        slots = np.fromiter((row for _, row in found), dtype=np.int64, count=len(found))
        vector = np.asarray(query, dtype=np.float32)
        if len(found) * 4 > len(rows):  # most of the cache: one product, no copy of rows
            similarity = (matrix[: len(rows)] @ vector)[slots]
        else:
            similarity = matrix[slots] @ vector
        best = np.argpartition(-similarity, min(limit, len(found)) - 1)[:limit]
        return {found[i][0]: float(similarity[i]) for i in best if similarity[i] >= floor}
