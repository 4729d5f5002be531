"""EmbeddingService: EmbedTexts (typed) and CreateOpenAiEmbeddings (OpenAI's JSON in an
HttpBody), both on the process's one Embedder, so they share its batching and cache."""

from __future__ import annotations

from google.api import httpbody_pb2

from services.assistant.embeddings import convert, openai_wire
from services.assistant.embeddings.embedder import Embedder
from services.assistant.rpcs.base import Context
from voka.assistant.v1 import embeddings_pb2, embeddings_pb2_grpc


class EmbeddingServicer(embeddings_pb2_grpc.EmbeddingServiceServicer):
    """Texts to vectors."""

    def __init__(self, embedder: Embedder) -> None:
        self._embedder = embedder

    async def EmbedTexts(
        self, request: embeddings_pb2.EmbedTextsRequest, context: Context
    ) -> embeddings_pb2.EmbedTextsResponse:
        result = await self._embedder.embed(
            request.texts, request.model, convert.purpose(request.purpose), "texts"
        )
        return convert.response(result)

    async def CreateOpenAiEmbeddings(
        self, request: embeddings_pb2.CreateOpenAiEmbeddingsRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        asked = openai_wire.parse(request.body.data)
        engine = self._embedder.engine(asked.model)
        openai_wire.check_dimensions(asked.dimensions, engine.model, engine.dimensions)
        result = await self._embedder.embed(asked.texts, asked.model, asked.purpose, "input")
        return httpbody_pb2.HttpBody(
            content_type="application/json", data=openai_wire.render(result, asked.encoding)
        )
