"""What Envoy answers by itself, through a real Envoy in front of a stand-in upstream: anonymous
(public) routes take small bodies only, and every refusal Envoy makes has the JSON shape of the
services' errors, `{code, message, details}`, naming the field where Envoy's message does.

The upstream is a generic gRPC server that answers every method with an empty message and
records what reached it, and serves the JWKS of the test key, so Envoy verifies real tokens.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format

from gateway.config import (
    PUBLIC_BODY_BYTES,
)
from tests.fixtures.tokens import TokenFactory
from tests.gateway.envoy import envoy_in_front, serving
from tests.gateway.test_config import DESCRIPTOR_SET
from voka.auth.v1 import auth_pb2

pytestmark = pytest.mark.integration

DOMAINS = ("auth", "meetings", "tasks", "translate")
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


class Upstream(grpc.GenericRpcHandler):
    """Every domain at once: health SERVING, the JWKS of `jwks_file`, empty answers otherwise."""

    def __init__(self, jwks_file: Path) -> None:
        reply = auth_pb2.GetJwksResponse()
        json_format.ParseDict(json.loads(jwks_file.read_text()), reply, ignore_unknown_fields=True)
        self._jwks = reply.SerializeToString()
        self.seen: list[tuple[str, bytes]] = []

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        method: str = details.method  # type: ignore[attr-defined]
        if method == "/grpc.health.v1.Health/Check":
            return grpc.unary_unary_rpc_method_handler(lambda _req, _ctx: b"\x08\x01")
        if method == "/voka.auth.v1.AuthService/GetJwks":
            return grpc.unary_unary_rpc_method_handler(lambda _req, _ctx: self._jwks)

        def answer(request: bytes, _context: grpc.ServicerContext) -> bytes:
            self.seen.append((method, request))
            return b""

        return grpc.unary_unary_rpc_method_handler(answer)


@pytest.fixture(scope="module")
def upstream(tokens: TokenFactory) -> Iterator[tuple[Upstream, int]]:
    handler = Upstream(tokens.jwks_file)
    with serving(handler) as port:
        yield handler, port


@pytest.fixture(scope="module")
def edge(upstream: tuple[Upstream, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _, port = upstream
    with envoy_in_front(DESCRIPTOR_SET, DOMAINS, port, tmp_path_factory.mktemp("envoy")) as url:
        yield url


@pytest.fixture(scope="module")
def rest(edge: str, tokens: TokenFactory) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=edge, timeout=10) as client:
        # Envoy fetches the JWKS through its own listener in the background: wait for it.
        deadline = time.monotonic() + 20
        while client.get("/api/v1/tasks", headers=bearer(tokens)).status_code == 401:
            assert time.monotonic() < deadline, "Envoy never loaded the JWKS"
            time.sleep(0.2)
        yield client


def bearer(tokens: TokenFactory) -> dict[str, str]:
    return {"authorization": f"Bearer {tokens.mint()}"}


def login_body(size: int) -> bytes:
    """A well-formed login as large as asked: the transcoder would read it all."""
    head, tail = b'{"username":"', b'","password":"p"}'
    return head + b"u" * (size - len(head) - len(tail)) + tail


def violations(body: dict[str, Any]) -> list[str]:
    return [
        violation["field"]
        for detail in body["details"]
        if detail["@type"] == BAD_REQUEST
        for violation in detail["fieldViolations"]
    ]


def post(rest: httpx.Client, path: str, body: bytes, **headers: str) -> httpx.Response:
    headers = {"content-type": "application/json", **headers}
    with contextlib.suppress(httpx.WriteError):  # Envoy may answer before reading it all
        return rest.post(path, content=body, headers=headers)
    pytest.fail(f"no answer to POST {path}")


# --- body limits (issue 15, item 11) ------------------------------------------------------


def test_a_large_body_on_an_anonymous_route_is_413(rest: httpx.Client, upstream):
    handler, _ = upstream
    before = len(handler.seen)
    reply = post(rest, "/api/v1/auth/login", login_body(2 * PUBLIC_BODY_BYTES))
    assert reply.status_code == 413
    assert reply.json()["code"] == 8  # RESOURCE_EXHAUSTED
    assert len(handler.seen) == before  # never reached the service


def test_a_body_within_the_limit_reaches_the_service(rest: httpx.Client, upstream):
    handler, _ = upstream
    reply = post(rest, "/api/v1/auth/login", login_body(PUBLIC_BODY_BYTES // 2))
    assert reply.status_code == 200, reply.text
    assert handler.seen[-1][0] == "/voka.auth.v1.AuthService/Login"


def test_a_signed_in_upload_keeps_the_large_limit(rest: httpx.Client, tokens, upstream):
    handler, _ = upstream
    text = b'{"text":"' + b"a" * (2 * PUBLIC_BODY_BYTES) + b'","targetLanguage":"es"}'
    reply = post(rest, "/api/v1/translate", text, **bearer(tokens))
    assert reply.status_code == 200, reply.text[:300]
    assert handler.seen[-1][0] == "/voka.translate.v1.TranslateService/TranslateText"


# --- one shape for every refusal (issue 15, item 13) ----------------------------------------


@pytest.mark.parametrize(
    ("path", "signed_in", "status", "code"),
    [
        ("/api/v1/no-such-thing", False, 404, 5),
        ("/api/v1/tasks", False, 401, 16),  # no token
        ("/api/v1/tasks/x9/y9", True, 404, 5),  # the transcoder knows no such method
    ],
)
def test_every_refusal_has_code_message_and_details(
    rest: httpx.Client, tokens, path: str, signed_in: bool, status: int, code: int
):
    reply = rest.get(path, headers=bearer(tokens) if signed_in else {})
    assert reply.status_code == status
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == code
    assert body["details"] == []
    assert not any(name.startswith("x-voka") for name in reply.headers)


def test_an_unknown_query_parameter_is_named(rest: httpx.Client):
    reply = rest.get("/api/v1/health/tasks", params={"colour": "blue"})
    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == 3
    assert "colour" in body["message"]
    assert violations(body) == ["colour"]


def test_a_value_of_the_wrong_type_is_named(rest: httpx.Client, tokens):
    reply = rest.post("/api/v1/auth/login", json={"username": 5, "password": "p"})
    assert reply.status_code == 400
    assert violations(reply.json()) == ["username"]
    reply = rest.get("/api/v1/tasks", params={"pageSize": "many"}, headers=bearer(tokens))
    assert violations(reply.json()) == ["page_size"]
    reply = rest.patch("/api/v1/meetings/m1", json={"title": 5}, headers=bearer(tokens))
    assert violations(reply.json()) == ["meeting.title"]


def test_a_body_field_contradicting_the_path_is_refused(rest: httpx.Client, tokens, upstream):
    """Without the check the body's name silently wins over the URL's."""
    handler, _ = upstream
    before = len(handler.seen)
    reply = rest.patch(
        "/api/v1/meetings/m1", json={"name": "meetings/m2", "title": "t"}, headers=bearer(tokens)
    )
    assert reply.status_code == 400
    assert violations(reply.json()) == ["name"]
    assert len(handler.seen) == before
    same = rest.patch(
        "/api/v1/meetings/m1", json={"name": "meetings/m1", "title": "t"}, headers=bearer(tokens)
    )
    assert same.status_code == 200


def test_what_envoy_cannot_name_keeps_the_shape(rest: httpx.Client, tokens):
    """docs/contracts.md: a list given for a Struct names no field; JSON syntax errors neither."""
    reply = rest.post("/api/v1/tasks", json={"args": [16]}, headers=bearer(tokens))
    assert reply.status_code == 400
    body = reply.json()
    assert body["details"] == []
    assert "not repeating" in body["message"]
    broken = post(rest, "/api/v1/auth/login", b'{"username": ')
    assert broken.status_code == 400
    assert broken.json()["details"] == []


def test_unknown_body_fields_are_dropped_by_envoy(rest: httpx.Client, upstream):
    """docs/contracts.md: the transcoder drops JSON fields the message does not have, and has no
    option to refuse them; the service gets the request without them."""
    handler, _ = upstream
    reply = rest.post("/api/v1/auth/login", json={"username": "a", "password": "b", "colour": 1})
    assert reply.status_code == 200
    method, request = handler.seen[-1]
    assert method == "/voka.auth.v1.AuthService/Login"
    assert auth_pb2.LoginRequest.FromString(request) == auth_pb2.LoginRequest(
        username="a", password="b"
    )
