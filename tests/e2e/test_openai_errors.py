"""Errors as the foreign APIs' own clients read them, through the whole mesh: on the OpenAI API
the official `openai` SDK gets OpenAI's `{"error": {"message", "type", "param", "code"}}` from
the services' statuses and Envoy's own answers alike (e.status_code, e.type, e.param, e.code);
on LibreTranslate's paths the client library gets LibreTranslate's `{"error": "..."}`. The edge
rewrites them (gateway/edge_replies.lua); the services only raise precise gRPC statuses."""

from __future__ import annotations

import json
import urllib.error

import httpx
import openai
import pytest
from libretranslatepy import LibreTranslateAPI

from services.assistant.settings import EMBEDDED_MODEL_ID
from services.translate.libretranslate.access import NO_KEY
from tests.e2e.conftest import sign_in
from tools.mesh import Mesh

pytestmark = pytest.mark.integration
QUESTION = [{"role": "user", "content": "Say hello."}]


def client(mesh: Mesh, key: str) -> openai.OpenAI:
    """The SDK pointed at the mesh's edge; no retries, so each refusal is seen as it came."""
    return openai.OpenAI(base_url=f"{mesh.rest_url}/v1", api_key=key, timeout=120, max_retries=0)


@pytest.fixture(scope="module")
def token(rest: httpx.Client) -> str:
    return sign_in(rest)["authorization"].removeprefix("Bearer ")


def test_a_bad_chat_request_names_its_param(mesh: Mesh, token: str):
    with pytest.raises(openai.BadRequestError) as raised:
        client(mesh, token).chat.completions.create(model=EMBEDDED_MODEL_ID, messages=QUESTION, n=2)
    error = raised.value
    assert error.status_code == 400
    assert (error.type, error.param, error.code) == (
        "invalid_request_error",
        "n",
        "invalid_argument",
    )
    assert isinstance(error.body, dict)
    assert set(error.body) == {"message", "type", "param", "code"}
    assert error.message == f"Error code: 400 - {error.body['message']}"
    assert "n: only 1 choice" in error.message


def test_missing_and_unknown_keys_are_authentication_errors(mesh: Mesh):
    """No credential is refused by Envoy (jwt_authn), an unknown Voka API key by the service:
    the SDK sees the same shape from both."""
    no_header = {"Authorization": openai.omit}
    for key, headers in (("unused", no_header), ("vk_0000000000no-such-key", None)):
        with pytest.raises(openai.AuthenticationError) as raised:
            client(mesh, key).models.list(extra_headers=headers)
        error = raised.value
        assert error.status_code == 401
        assert (error.type, error.param, error.code) == (
            "authentication_error",
            None,
            "invalid_api_key",
        )
        assert isinstance(error.body, dict)
        assert error.body["message"]


def test_unknown_models_and_paths_are_not_found(mesh: Mesh, token: str):
    sdk = client(mesh, token)
    with pytest.raises(openai.NotFoundError) as model:
        sdk.models.retrieve("no-such-model")
    with pytest.raises(openai.NotFoundError) as path:
        sdk.get("/no-such-path", cast_to=object)  # answered by Envoy: no route
    for error in (model.value, path.value):
        assert (error.type, error.param, error.code) == ("not_found_error", None, "not_found")
    assert "no-such-model" in model.value.message


def test_libretranslate_errors_are_an_error_string(mesh: Mesh):
    with pytest.raises(urllib.error.HTTPError) as call:
        LibreTranslateAPI(mesh.rest_url).translate("Hello", "en", "es")
    assert call.value.code == 400
    assert json.loads(call.value.read()) == {"error": NO_KEY}
