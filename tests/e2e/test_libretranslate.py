"""LibreTranslate's API through Envoy, driven by a LibreTranslate client library from PyPI
(`libretranslatepy`, which posts form-urlencoded bodies with `api_key` in them), as `make up`
runs the mesh: en→es is Apertium out of the box. The JSON variant, an array `q`, `format=html`
and multipart bodies, which that client does not send, are checked with httpx at the end."""

from __future__ import annotations

import json
import urllib.error

import httpx
import pytest
from libretranslatepy import LibreTranslateAPI

from tests.e2e.conftest import sign_in
from tools.mesh import Mesh

pytestmark = pytest.mark.integration

ENGLISH = "Hello, how are you? The weather is very nice today and I am happy."


def api_key(rest: httpx.Client, headers: dict[str, str]) -> str:
    """A new API key of the signed-in user (its secret)."""
    created = rest.post("/api/v1/users/me/api-keys", json={"displayName": "lt"}, headers=headers)
    assert created.status_code == 200, created.text
    return str(created.json()["secret"])


@pytest.fixture(scope="module")
def owner(rest: httpx.Client) -> dict[str, str]:
    return sign_in(rest)


@pytest.fixture(scope="module")
def client(mesh: Mesh, rest: httpx.Client, owner: dict[str, str]) -> LibreTranslateAPI:
    return LibreTranslateAPI(mesh.rest_url, api_key=api_key(rest, owner))


def refusal(call: pytest.ExceptionInfo[urllib.error.HTTPError]) -> tuple[int, str]:
    return call.value.code, call.value.read().decode()


def test_translate_lands_in_the_key_owners_history(
    client: LibreTranslateAPI, rest: httpx.Client, owner: dict[str, str]
):
    assert client.translate("Hello, how are you?", "en", "es").startswith("Hola")
    history = rest.get("/api/v1/translate/history", headers=owner, timeout=10).json()
    assert history["translations"][0]["sourceText"] == "Hello, how are you?"


def test_translate_detects_the_source(client: LibreTranslateAPI):
    assert "Hola" in client.translate(ENGLISH, "auto", "es")


def test_languages_list_installed_targets(mesh: Mesh, client: LibreTranslateAPI):
    listed = LibreTranslateAPI(mesh.rest_url).languages()  # public: no key needed
    english = next(language for language in listed if language["code"] == "en")
    assert english["name"] == "English"
    assert "es" in english["targets"]
    assert client.languages() == listed  # the key travels in the GET's body, and is ignored


def test_detect(client: LibreTranslateAPI):
    best = client.detect(ENGLISH)[0]
    assert best["language"] == "en"
    assert 50 <= best["confidence"] <= 100  # LibreTranslate's scale


def test_a_bad_key_is_403(mesh: Mesh):
    stranger = LibreTranslateAPI(mesh.rest_url, api_key="vk_0000000000no-such-key")
    with pytest.raises(urllib.error.HTTPError) as call:
        stranger.translate("Hello", "en", "es")
    status, body = refusal(call)
    assert status == 403
    assert "Invalid API key" in body


def test_no_key_is_400(mesh: Mesh):
    with pytest.raises(urllib.error.HTTPError) as call:
        LibreTranslateAPI(mesh.rest_url).detect(ENGLISH)
    status, body = refusal(call)
    assert status == 400
    assert "get an API key" in body


def test_an_unknown_language_is_400(client: LibreTranslateAPI):
    with pytest.raises(urllib.error.HTTPError) as call:
        client.translate("Hello", "en", "xx")
    status, body = refusal(call)
    assert status == 400
    assert "xx is not supported" in body


# --- what libretranslatepy does not send ----------------------------------------------------


def test_json_body_with_an_array_and_auto(rest: httpx.Client, owner: dict[str, str]):
    reply = rest.post(
        "/translate",
        json={"q": [ENGLISH, "Good morning, my friend."], "source": "auto", "target": "es"},
        headers=owner,  # a credential in the headers works as well as `api_key`
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert len(body["translatedText"]) == 2
    assert body["translatedText"][0].startswith("Hola")
    assert body["detectedLanguage"][0]["language"] == "en"


def test_html_keeps_the_markup(rest: httpx.Client, client: LibreTranslateAPI):
    reply = rest.post(
        "/translate",
        json={
            "q": '<p class="x">Hello, how are you?</p>',
            "source": "en",
            "target": "es",
            "format": "html",
            "api_key": client.api_key,
        },
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    translated = reply.json()["translatedText"]
    assert translated.startswith('<p class="x">Hola')
    assert translated.endswith("</p>")


def test_multipart_form(rest: httpx.Client, client: LibreTranslateAPI):
    fields = {"q": "Hello", "source": "en", "target": "es", "api_key": client.api_key or ""}
    reply = rest.post(
        "/translate", files={name: (None, value) for name, value in fields.items()}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    assert json.loads(reply.content)["translatedText"].startswith("Hola")


def test_frontend_settings(rest: httpx.Client):
    settings = rest.get("/frontend/settings", timeout=10).json()
    assert settings["charLimit"] == 5000
    assert settings["keyRequired"] is True
