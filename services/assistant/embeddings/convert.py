"""EmbedTexts' messages to and from the embedder's terms."""

from __future__ import annotations

from services.assistant.embeddings.embedder import Embeddings
from services.assistant.embeddings.engine import Purpose
from voka.assistant.v1 import embeddings_pb2

PURPOSES = {
    embeddings_pb2.EMBEDDING_PURPOSE_UNSPECIFIED: Purpose.PASSAGE,
    embeddings_pb2.EMBEDDING_PURPOSE_QUERY: Purpose.QUERY,
    embeddings_pb2.EMBEDDING_PURPOSE_PASSAGE: Purpose.PASSAGE,
}


def purpose(value: embeddings_pb2.EmbeddingPurpose.ValueType) -> Purpose:
    """The purpose a request asks for; an enum value this build does not know is PASSAGE,
    the proto's default."""
    return PURPOSES.get(value, Purpose.PASSAGE)


def response(result: Embeddings) -> embeddings_pb2.EmbedTextsResponse:
    return embeddings_pb2.EmbedTextsResponse(
        embeddings=[
            embeddings_pb2.Embedding(values=row.tolist(), token_count=tokens)
            for row, tokens in zip(result.vectors, result.tokens, strict=True)
        ],
        dimensions=result.dimensions,
        model=result.model,
        total_tokens=sum(result.tokens),
    )
