"""The API docs through the real Envoy of the mesh: the OpenAPI document and its page, without a
token, and public answers that match the schemas the document gives them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator

from gateway import openapi
from tools import protogen

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(rest: httpx.Client) -> dict[str, Any]:
    reply = rest.get("/api/v1/openapi.json")
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    document: dict[str, Any] = reply.json()
    return document


def test_the_document_is_served_without_a_token(served: dict[str, Any]):
    generated = openapi.document(protogen.GEN / protogen.DESCRIPTOR_SET)
    assert served == generated


def test_the_docs_page_is_served_without_a_token(rest: httpx.Client):
    reply = rest.get("/docs")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "<title>Voka API</title>" in reply.text
    assert "/api/v1/openapi.json" in reply.text


def test_other_methods_on_the_docs_paths_are_json_404(rest: httpx.Client):
    reply = rest.post("/api/v1/openapi.json", json={})
    assert reply.status_code == 404
    assert reply.json()["code"] == 5


@pytest.mark.parametrize(
    ("path", "documented"),
    [
        ("/api/v1/translate/languages", "/api/v1/translate/languages"),
        ("/api/v1/health/translate", "/api/v1/health/{service}"),
        ("/api/v1/voices", "/api/v1/voices"),
    ],
)
def test_public_answers_match_their_documented_schema(
    rest: httpx.Client, served: dict[str, Any], path: str, documented: str
):
    reply = rest.get(path)
    assert reply.status_code == 200, reply.text
    ok = served["paths"][documented]["get"]["responses"]["200"]
    schema = ok["content"]["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": served["components"]})
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(reply.json())]
    assert errors == []
