"""OpenAI's chat API through Envoy, driven by the official `openai` SDK as any of its users
would drive it (`base_url=<envoy>/v1`, the Voka token or API key as `api_key`): completions
whole and streamed from the embedded SmolLM2, the model list, an API-key caller, and the errors
the SDK raises for a bad request and a missing key. Signing in and creating the API key use
Voka's own REST routes; every call under test goes through the SDK."""

from __future__ import annotations

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam, ChatCompletionToolParam

from services.assistant.settings import EMBEDDED_MODEL_ID
from tests.e2e.conftest import sign_in
from tools.mesh import Mesh

pytestmark = pytest.mark.integration
QUESTION: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Say hello to the sea."}]


def client(mesh: Mesh, key: str) -> openai.OpenAI:
    """The SDK pointed at the mesh's edge; generous timeout (two shared cores), no retries."""
    return openai.OpenAI(base_url=f"{mesh.rest_url}/v1", api_key=key, timeout=120, max_retries=0)


@pytest.fixture(scope="module")
def token(rest: httpx.Client) -> str:
    """A signed-in user's access token (a JWT), as the SDK's api_key."""
    return sign_in(rest)["authorization"].removeprefix("Bearer ")


@pytest.fixture(scope="module")
def api_key(rest: httpx.Client, token: str) -> str:
    """A Voka API key (`vk_...`) of that user."""
    created = rest.post("/api/v1/users/me/api-keys", json={"displayName": "openai-sdk"},
                        headers={"authorization": f"Bearer {token}"})  # fmt: skip
    assert created.status_code == 200, created.text
    secret: str = created.json()["secret"]
    assert secret.startswith("vk_")
    return secret


def test_chat_completion_whole(mesh: Mesh, token: str) -> None:
    completion = client(mesh, token).chat.completions.create(
        model=EMBEDDED_MODEL_ID,
        messages=[{"role": "system", "content": "You answer briefly."}, *QUESTION],
        max_tokens=8,
        temperature=0,
        stop=["\n\n"],
        user="e2e",
        seed=7,
    )
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == EMBEDDED_MODEL_ID
    assert isinstance(completion.created, int)
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage is not None
    assert 1 <= completion.usage.completion_tokens <= 8
    assert completion.usage.prompt_tokens > 0
    total = completion.usage.prompt_tokens + completion.usage.completion_tokens
    assert completion.usage.total_tokens == total


def test_chat_completion_streamed_with_usage(mesh: Mesh, token: str) -> None:
    stream = client(mesh, token).chat.completions.create(
        model=EMBEDDED_MODEL_ID,
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Tell me about the sea."}]}
        ],
        max_completion_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)  # the SDK ends the iteration at `data: [DONE]`
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    pieces = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 5  # token by token, not one buffered blob
    finished = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finished[-1] in ("stop", "length")
    assert all(reason is None for reason in finished[:-1])
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert 1 <= last.usage.completion_tokens <= 24
    assert all(c.usage is None for c in chunks[:-1])


def test_models_listed_and_retrieved(mesh: Mesh, token: str) -> None:
    sdk = client(mesh, token)
    models = list(sdk.models.list())
    assert models[0].id == EMBEDDED_MODEL_ID
    assert models[0].object == "model"
    assert models[0].owned_by == "local"
    assert isinstance(models[0].created, int)
    assert sdk.models.retrieve(EMBEDDED_MODEL_ID).id == EMBEDDED_MODEL_ID
    with pytest.raises(openai.NotFoundError):
        sdk.models.retrieve("no-such-model")


def test_an_api_key_caller_chats(mesh: Mesh, api_key: str) -> None:
    completion = client(mesh, api_key).chat.completions.create(
        model=EMBEDDED_MODEL_ID, messages=QUESTION, max_tokens=4
    )
    assert completion.choices[0].message.content


def test_bad_requests_are_400_naming_the_field(mesh: Mesh, token: str) -> None:
    sdk = client(mesh, token)
    with pytest.raises(openai.BadRequestError) as two_choices:
        sdk.chat.completions.create(model=EMBEDDED_MODEL_ID, messages=QUESTION, n=2)
    assert two_choices.value.status_code == 400
    assert "n: only 1 choice" in str(two_choices.value)
    with pytest.raises(openai.BadRequestError) as hot:
        sdk.chat.completions.create(model=EMBEDDED_MODEL_ID, messages=QUESTION, temperature=3)
    assert "temperature: must be between 0 and 2" in str(hot.value)
    tool: ChatCompletionToolParam = {
        "type": "function",
        "function": {"name": "add", "parameters": {"type": "object"}},
    }
    with pytest.raises(openai.BadRequestError) as tools:
        sdk.chat.completions.create(model=EMBEDDED_MODEL_ID, messages=QUESTION, tools=[tool])
    assert "tools: model" in str(tools.value)
    with pytest.raises(openai.BadRequestError) as unknown:
        sdk.chat.completions.create(model="no-such-model", messages=QUESTION)
    assert "model: unknown model" in str(unknown.value)


def test_no_key_or_a_foreign_key_is_401(mesh: Mesh) -> None:
    """No Authorization header at all (the SDK always sends one, so it is omitted per call),
    and an OpenAI-style key that is neither a Voka API key nor a JWT."""
    no_header = {"Authorization": openai.omit}
    with pytest.raises(openai.AuthenticationError) as refused:
        client(mesh, "unused").chat.completions.create(
            model=EMBEDDED_MODEL_ID, messages=QUESTION, extra_headers=no_header
        )
    assert refused.value.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        client(mesh, "unused").models.list(extra_headers=no_header)
    with pytest.raises(openai.AuthenticationError):
        client(mesh, "sk-proj-not-a-voka-key").chat.completions.create(
            model=EMBEDDED_MODEL_ID, messages=QUESTION
        )
