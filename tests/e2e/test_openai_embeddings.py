"""Embeddings through Envoy as clients use them: the official `openai` SDK on `/v1/embeddings`
with a Voka API key (float and base64, a string and a list), its errors, and the typed
EmbedTexts over native gRPC and over REST."""

from __future__ import annotations

import grpc
import httpx
import numpy as np
import openai
import pytest

from tests.e2e.conftest import sign_in
from tools.mesh import Mesh
from voka.assistant.v1 import embeddings_pb2, embeddings_pb2_grpc

pytestmark = pytest.mark.integration

MODEL = "multilingual-e5-small"


@pytest.fixture(scope="module")
def client(mesh: Mesh, rest: httpx.Client) -> openai.OpenAI:
    """The SDK as a user configures it: Envoy's `/v1` and an API key of theirs."""
    created = rest.post(
        "/api/v1/users/me/api-keys", json={"displayName": "openai-sdk"}, headers=sign_in(rest)
    )
    assert created.status_code == 200, created.text
    return openai.OpenAI(
        base_url=f"{mesh.rest_url}/v1", api_key=created.json()["secret"], max_retries=0, timeout=60
    )


def test_sdk_embeds_a_list_in_floats_with_meaning_across_languages(client: openai.OpenAI):
    texts = [
        "The budget meeting moved to Friday.",
        "La reunión del presupuesto se pasó al viernes.",
        "Mi perro ladra por la noche.",
    ]
    reply = client.embeddings.create(model=MODEL, input=texts, encoding_format="float", user="e2e")
    assert reply.object == "list"
    assert reply.model == MODEL
    assert [d.index for d in reply.data] == [0, 1, 2]
    assert reply.usage.prompt_tokens == reply.usage.total_tokens > 10
    vectors = np.array([d.embedding for d in reply.data])
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def test_sdk_default_base64_decodes_to_the_same_vector(client: openai.OpenAI):
    floats = client.embeddings.create(model=MODEL, input="hola mundo", encoding_format="float")
    packed = client.embeddings.create(model=MODEL, input="hola mundo", dimensions=384)
    assert len(packed.data) == 1
    assert np.allclose(packed.data[0].embedding, floats.data[0].embedding, atol=1e-6)


def test_sdk_errors_name_the_field(client: openai.OpenAI):
    with pytest.raises(openai.BadRequestError) as tokens:
        client.embeddings.create(model=MODEL, input=[[15339, 1917]])
    assert tokens.value.status_code == 400
    assert "input" in str(tokens.value)
    with pytest.raises(openai.BadRequestError) as shortened:
        client.embeddings.create(model=MODEL, input="hola", dimensions=256)
    assert "dimensions" in str(shortened.value)
    with pytest.raises(openai.NotFoundError) as unknown:
        client.embeddings.create(model="text-embedding-3-small", input="hola")
    assert "text-embedding-3-small" in str(unknown.value)


def test_sdk_without_a_key_is_refused(mesh: Mesh):
    anonymous = openai.OpenAI(base_url=f"{mesh.rest_url}/v1", api_key="not-a-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.embeddings.create(model=MODEL, input="hola")


def test_typed_embed_texts_over_grpc_and_rest(mesh: Mesh, rest: httpx.Client):
    headers = sign_in(rest)
    request = embeddings_pb2.EmbedTextsRequest(
        texts=["¿Cuánto cuesta?", "How much does it cost?"],
        purpose=embeddings_pb2.EMBEDDING_PURPOSE_QUERY,
    )
    with grpc.insecure_channel(f"127.0.0.1:{mesh.ports.envoy}") as channel:
        stub = embeddings_pb2_grpc.EmbeddingServiceStub(channel)
        typed = stub.EmbedTexts(request, metadata=tuple(headers.items()), timeout=60)
    assert (typed.model, typed.dimensions, len(typed.embeddings)) == (MODEL, 384, 2)
    assert typed.total_tokens == sum(e.token_count for e in typed.embeddings)
    over_rest = rest.post(
        "/api/v1/embeddings:embed",
        json={"texts": list(request.texts), "purpose": "EMBEDDING_PURPOSE_QUERY"},
        headers=headers,
    )
    assert over_rest.status_code == 200, over_rest.text
    body = over_rest.json()
    assert body["dimensions"] == 384
    assert np.allclose(body["embeddings"][1]["values"], typed.embeddings[1].values, atol=1e-6)
