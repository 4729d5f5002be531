"""EmbeddingService in the real assistant process (NATS, SQLite, JWT verification): EmbedTexts
for users and service identities, and OpenAI's `/v1/embeddings` JSON through
CreateOpenAiEmbeddings, with its field errors."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import numpy as np
import pytest
from google.api import httpbody_pb2

from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.support import violations
from voka.assistant.v1 import embeddings_pb2, embeddings_pb2_grpc
from voka.server import Running


@pytest.fixture(scope="module")
def assistant_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQLite only: embeddings touch no table."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'assistant.db'}"


@pytest.fixture(scope="module")
async def embeddings(service: Running) -> AsyncIterator[embeddings_pb2_grpc.EmbeddingServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield embeddings_pb2_grpc.EmbeddingServiceStub(channel)


async def openai(
    stub: embeddings_pb2_grpc.EmbeddingServiceStub, tokens: TokenFactory, **fields: Any
) -> dict[str, Any]:
    body = httpbody_pb2.HttpBody(content_type="application/json", data=json.dumps(fields).encode())
    reply = await stub.CreateOpenAiEmbeddings(
        embeddings_pb2.CreateOpenAiEmbeddingsRequest(body=body), metadata=tokens.metadata()
    )
    assert reply.content_type == "application/json"
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def test_embed_texts_for_a_user_and_for_a_service(
    embeddings: embeddings_pb2_grpc.EmbeddingServiceStub, tokens: TokenFactory
) -> None:
    request = embeddings_pb2.EmbedTextsRequest(
        texts=["¿Cuánto cuesta el proyecto?", "How much does the project cost?"],
        purpose=embeddings_pb2.EMBEDDING_PURPOSE_QUERY,
    )
    reply = await embeddings.EmbedTexts(request, metadata=tokens.metadata())
    assert reply.model == "multilingual-e5-small"
    assert reply.dimensions == 384
    vectors = np.array([e.values for e in reply.embeddings])
    assert vectors.shape == (2, 384)
    assert vectors[0] @ vectors[1] > 0.8
    assert reply.total_tokens == sum(e.token_count for e in reply.embeddings) > 10
    as_peer = await embeddings.EmbedTexts(
        request, metadata=tokens.metadata(subject="services/meetings", roles=("service",))
    )
    assert np.allclose([e.values for e in as_peer.embeddings], vectors)


async def test_embed_texts_needs_a_caller_and_valid_texts(
    embeddings: embeddings_pb2_grpc.EmbeddingServiceStub, tokens: TokenFactory
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await embeddings.EmbedTexts(embeddings_pb2.EmbedTextsRequest(texts=["hola"]))
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
    long = "palabra " * 1100
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await embeddings.EmbedTexts(
            embeddings_pb2.EmbedTextsRequest(texts=["hola", "", long]), metadata=tokens.metadata()
        )
    assert violations(bad.value) == {"texts[1]", "texts[2]"}
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await embeddings.EmbedTexts(
            embeddings_pb2.EmbedTextsRequest(texts=["hola"], model="ada-002"),
            metadata=tokens.metadata(),
        )
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


async def test_openai_json_in_floats_and_base64(
    embeddings: embeddings_pb2_grpc.EmbeddingServiceStub, tokens: TokenFactory
) -> None:
    floats = await openai(
        embeddings, tokens, input=["hola", "adiós"], model="multilingual-e5-small", user="u1"
    )
    assert floats["object"] == "list"
    assert floats["model"] == "multilingual-e5-small"
    assert [(d["object"], d["index"]) for d in floats["data"]] == [
        ("embedding", 0),
        ("embedding", 1),
    ]
    assert floats["usage"]["prompt_tokens"] == floats["usage"]["total_tokens"] > 0
    packed = await openai(
        embeddings, tokens, input="hola", model="multilingual-e5-small",
        encoding_format="base64", dimensions=384,
    )  # fmt: skip
    unpacked = np.frombuffer(base64.b64decode(packed["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(unpacked, floats["data"][0]["embedding"])
    passage = await openai(
        embeddings, tokens, input="hola", model="multilingual-e5-small", input_type="passage"
    )
    assert not np.allclose(passage["data"][0]["embedding"], floats["data"][0]["embedding"])


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"input": [[1, 2, 3]], "model": "multilingual-e5-small"}, {"input"}),
        ({"input": [101, 102], "model": "multilingual-e5-small"}, {"input"}),
        ({"input": 7, "model": "multilingual-e5-small"}, {"input"}),
        ({"input": "x"}, {"model"}),
        ({"input": "x", "model": "multilingual-e5-small", "encoding_format": "hex"},
         {"encoding_format"}),
        ({"input": "x", "model": "multilingual-e5-small", "dimensions": 256}, {"dimensions"}),
        ({"input": "x", "model": "multilingual-e5-small", "input_type": "code"}, {"input_type"}),
        ({"input": ["x", ""], "model": "multilingual-e5-small"}, {"input[1]"}),
    ],
)  # fmt: skip
async def test_openai_json_field_errors(
    embeddings: embeddings_pb2_grpc.EmbeddingServiceStub,
    tokens: TokenFactory,
    fields: dict[str, Any],
    bad: set[str],
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await openai(embeddings, tokens, **fields)
    assert violations(caught.value) == bad


async def test_openai_unknown_model_and_broken_json(
    embeddings: embeddings_pb2_grpc.EmbeddingServiceStub, tokens: TokenFactory
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await openai(embeddings, tokens, input="x", model="text-embedding-3-small")
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
    assert "text-embedding-3-small" in (unknown.value.details() or "")
    body = httpbody_pb2.HttpBody(content_type="application/json", data=b"{not json")
    with pytest.raises(grpc.aio.AioRpcError) as broken:
        await embeddings.CreateOpenAiEmbeddings(
            embeddings_pb2.CreateOpenAiEmbeddingsRequest(body=body), metadata=tokens.metadata()
        )
    assert violations(broken.value) == {"body"}
