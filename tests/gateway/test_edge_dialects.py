"""Error answers in the dialects of the foreign APIs the edge serves, through a real Envoy: on the
OpenAI API (`/v1/...`) every error is `{"error": {"message", "type", "param", "code"}}` as the
official `openai` SDK reads it, on LibreTranslate's paths `{"error": "..."}`; Voka's own paths
keep `{code, message, details}`; successful streams pass unbuffered. And the service-only
`voka-on-behalf-of` header never gets past the edge.

The contracts here are small stand-ins shaped like the real OpenAI and LibreTranslate ones
(HttpBody in and out, a server stream for SSE), compiled with the real auth and ops contracts,
so the dialects are exercised whatever the domains' contracts hold today. The upstream is a
generic gRPC server (tests/gateway/test_edge_replies.py) that answers as the request's
`x-test-outcome` header asks: the gRPC status a service would raise, built with voka.errors.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import openai
import pytest
from google.api import httpbody_pb2
from grpc_status import rpc_status

from gateway import openapi
from gateway.config import (
    EDGE_REPLIES_FILTER,
    ERROR_DIALECT_KEY,
    PUBLIC_BODY_BYTES,
    build_config,
    http_bindings,
)
from tests.fixtures.tokens import TokenFactory
from tests.gateway.envoy import envoy_in_front, serving
from tests.gateway.test_config import (
    DESCRIPTOR_SET,
    GOOGLEAPIS,
    ROOT,
    UPSTREAMS,
    first_match,
    sample_path,
    virtual_host,
)
from tests.gateway.test_edge_replies import Upstream
from voka import errors

pytestmark = pytest.mark.integration

OPENAI_PROTO = """
    syntax = "proto3";
    package voka.assistant.v1;
    import "google/api/annotations.proto";
    import "google/api/httpbody.proto";
    service OpenAiService {
      rpc CreateChatCompletion(BodyRequest) returns (stream google.api.HttpBody) {
        option (google.api.http) = {post: "/v1/chat/completions" body: "body"};
      }
      rpc ListModels(BodyRequest) returns (google.api.HttpBody) {
        option (google.api.http) = {get: "/v1/models"};
      }
      rpc GetModel(GetModelRequest) returns (google.api.HttpBody) {
        option (google.api.http) = {get: "/v1/models/{model}"};
      }
      // Voka's own REST beside the OpenAI API in one service: the path decides the dialect.
      rpc EmbedTexts(BodyRequest) returns (google.api.HttpBody) {
        option (google.api.http) = {post: "/api/v1/embeddings:embed" body: "body"};
      }
    }
    message BodyRequest { google.api.HttpBody body = 1; }
    message GetModelRequest { string model = 1; }
"""
LIBRETRANSLATE_PROTO = """
    syntax = "proto3";
    package voka.translate.v1;
    import "google/api/annotations.proto";
    import "google/api/httpbody.proto";
    import "voka/api/v1/options.proto";
    service LibreTranslateService {
      rpc Translate(BodyRequest) returns (google.api.HttpBody) {
        option (google.api.http) = {post: "/translate" body: "body"};
        option (voka.api.v1.access) = ACCESS_PUBLIC;
      }
      rpc ListLanguages(BodyRequest) returns (google.api.HttpBody) {
        option (google.api.http) = {get: "/languages"};
        option (voka.api.v1.access) = ACCESS_PUBLIC;
      }
    }
    message BodyRequest { google.api.HttpBody body = 1; }
"""
REAL_PROTOS = ("voka/auth/v1/auth.proto", "voka/ops/v1/ops.proto", "google/rpc/error_details.proto")
DOMAINS = ("assistant", "auth", "translate")
CHAT = "/voka.assistant.v1.OpenAiService/CreateChatCompletion"
OUTCOME = "x-test-outcome"
CHUNK = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": None}],
}


def compile_contracts(directory: Path) -> Path:
    """The stand-in contracts with the real auth, ops and error-detail ones, as protogen does."""
    src = directory / "protos"
    stand_ins = {
        "voka/assistant/v1/openai.proto": OPENAI_PROTO,
        "voka/translate/v1/libretranslate.proto": LIBRETRANSLATE_PROTO,
    }
    for name, text in stand_ins.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(textwrap.dedent(text))
    out = directory / "dialects.binpb"
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{src}", f"-I{ROOT / 'protos'}"]
    cmd += [f"-I{GOOGLEAPIS}", f"--descriptor_set_out={out}", "--include_imports"]
    subprocess.run([*cmd, *stand_ins, *REAL_PROTOS], check=True, capture_output=True)
    return out


def failure(outcome: str) -> errors.VokaError:
    """The error a service would raise for the outcome a test asks for."""
    match outcome:
        case "bad-n":
            return errors.invalid_argument([errors.FieldViolation("n", "must be 1")])
        case "quota":
            return errors.quota_exceeded("monthly tokens used up", "users/ana", "tokens")
        case "denied":
            return errors.permission_denied("Invalid API key")
        case "overloaded":
            return errors.resource_exhausted("too many requests")
        case "down":
            return errors.unavailable("the model is loading")
    raise AssertionError(f"unknown outcome {outcome}")


class Services(Upstream):
    """Upstream's JWKS and empty answers, plus: the failure `x-test-outcome` names, a chat
    stream whose second chunk waits for `first_chunk_seen`, and each call's metadata."""

    def __init__(self, jwks_file: Path) -> None:
        super().__init__(jwks_file)
        self.metadata: list[dict[str, str]] = []
        self.first_chunk_seen = threading.Event()

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler[Any, Any]:
        handler = super().service(details)
        metadata = dict(details.invocation_metadata)  # type: ignore[attr-defined]
        outcome = metadata.get(OUTCOME)
        self.metadata.append(metadata)
        if outcome is not None:

            def fail(_request: bytes, context: grpc.ServicerContext) -> bytes:
                context.abort_with_status(rpc_status.to_status(failure(outcome).to_status()))
                raise AssertionError("abort_with_status returns no more")

            return grpc.unary_unary_rpc_method_handler(fail)
        if details.method == CHAT:
            return grpc.unary_stream_rpc_method_handler(self._chat)
        return handler

    def _chat(self, _request: bytes, _context: grpc.ServicerContext) -> Iterator[bytes]:
        for data in (json.dumps(CHUNK), "[DONE]"):
            body = httpbody_pb2.HttpBody(
                content_type="text/event-stream", data=f"data: {data}\n\n".encode()
            )
            yield body.SerializeToString()
            self.first_chunk_seen.wait(10)


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_contracts(tmp_path_factory.mktemp("dialects"))


@pytest.fixture(scope="module")
def services(tokens: TokenFactory) -> Iterator[tuple[Services, int]]:
    handler = Services(tokens.jwks_file)
    with serving(handler) as port:
        yield handler, port


@pytest.fixture(scope="module")
def edge(
    services: tuple[Services, int], contracts: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    _, port = services
    with envoy_in_front(contracts, DOMAINS, port, tmp_path_factory.mktemp("envoy")) as url:
        yield url


@pytest.fixture(scope="module")
def token(edge: str, tokens: TokenFactory) -> str:
    """A token Envoy accepts: it fetches the JWKS through its own listener in the background."""
    minted = tokens.mint()
    deadline = time.monotonic() + 20
    while httpx.get(f"{edge}/v1/models", headers={"authorization": f"Bearer {minted}"}).is_error:
        assert time.monotonic() < deadline, "Envoy never loaded the JWKS"
        time.sleep(0.2)
    return minted


@pytest.fixture(scope="module")
def rest(edge: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=edge, timeout=10) as client:
        yield client


def sdk(edge: str, api_key: str, outcome: str | None = None) -> openai.OpenAI:
    """The official client, pointed at the edge; no retries, so a 429 or 503 is seen at once."""
    headers = {OUTCOME: outcome} if outcome else None
    return openai.OpenAI(
        base_url=f"{edge}/v1", api_key=api_key, max_retries=0, default_headers=headers
    )


def chat(client: openai.OpenAI, **options: Any) -> Any:
    return client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hola"}], **options
    )


# --- OpenAI --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "error", "status", "kind", "param", "code", "message"),
    [
        ("bad-n", openai.BadRequestError, 400, "invalid_request_error", "n", "invalid_argument",
         "invalid request: n: must be 1"),
        ("denied", openai.PermissionDeniedError, 403, "permission_error", None,
         "permission_denied", "Invalid API key"),
        ("quota", openai.RateLimitError, 429, "rate_limit_error", None, "insufficient_quota",
         "monthly tokens used up"),
        ("overloaded", openai.RateLimitError, 429, "rate_limit_error", None,
         "rate_limit_exceeded", "too many requests"),
        ("down", openai.InternalServerError, 503, "server_error", None, "unavailable",
         "the model is loading"),
    ],
)  # fmt: skip
def test_a_service_error_reaches_the_sdk_in_openais_shape(
    edge: str, token: str, outcome: str, error: type[openai.APIStatusError], status: int,
    kind: str, param: str | None, code: str, message: str,
):  # fmt: skip
    with pytest.raises(error) as raised:
        chat(sdk(edge, token, outcome), n=2)
    assert raised.value.status_code == status
    assert raised.value.body == {"message": message, "type": kind, "param": param, "code": code}
    assert (raised.value.type, raised.value.param, raised.value.code) == (kind, param, code)
    assert raised.value.message == f"Error code: {status} - {message}"


def test_a_bad_credential_is_an_authentication_error(edge: str, token: str):
    with pytest.raises(openai.AuthenticationError) as raised:
        chat(sdk(edge, "not-a-key"))
    assert raised.value.status_code == 401
    assert raised.value.type == "authentication_error"
    assert raised.value.code == "invalid_api_key"
    assert raised.value.param is None
    assert raised.value.message.startswith("Error code: 401 - Jwt")


@pytest.mark.parametrize(
    ("method", "path", "status", "kind", "code"),
    [
        ("POST", "/v1/chat/completions", 401, "authentication_error", "invalid_api_key"),
        ("GET", "/v1/nope", 404, "not_found_error", "not_found"),
        ("GET", "/v1/models/a/b", 404, "not_found_error", "not_found"),  # the transcoder's own
    ],
)
def test_envoys_own_answers_on_openai_paths_have_openais_shape(
    rest: httpx.Client, token: str, method: str, path: str, status: int, kind: str, code: str
):
    headers = {"authorization": f"Bearer {token}"} if status != 401 else {}
    reply = rest.request(method, path, headers=headers)
    assert reply.status_code == status
    assert reply.headers["content-type"] == "application/json"
    error = reply.json()["error"]
    assert set(reply.json()) == {"error"}
    assert (error["type"], error["param"], error["code"]) == (kind, None, code)
    assert error["message"]
    assert not any(name.startswith("x-voka") for name in reply.headers)


def test_a_stream_passes_unbuffered(edge: str, token: str, services: tuple[Services, int]):
    """The second chunk is sent only once the first reached the client: buffering would hang."""
    handler, _ = services
    handler.first_chunk_seen.clear()
    stream = chat(sdk(edge, token), stream=True)
    first = next(iter(stream))
    handler.first_chunk_seen.set()
    assert first.choices[0].delta.content == "hi"
    assert list(stream) == []  # `data: [DONE]` ends it


def test_voka_paths_keep_their_shape(rest: httpx.Client, token: str):
    headers = {"authorization": f"Bearer {token}", OUTCOME: "bad-n"}
    reply = rest.post("/api/v1/embeddings:embed", json={}, headers=headers)
    assert reply.status_code == 400
    body = reply.json()
    assert set(body) == {"code", "message", "details"}
    [violation] = body["details"][0]["fieldViolations"]
    assert (violation["field"], violation["description"]) == ("n", "must be 1")
    anonymous = rest.post("/api/v1/embeddings:embed", json={})
    assert anonymous.status_code == 401
    assert set(anonymous.json()) == {"code", "message", "details"}


# --- LibreTranslate -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "status", "message"),
    [
        ("bad-n", 400, "invalid request: n: must be 1"),
        ("denied", 403, "Invalid API key"),
        ("overloaded", 429, "Slowdown: too many requests"),
        ("down", 503, "the model is loading"),
    ],
)
def test_a_libretranslate_error_is_an_error_string(
    rest: httpx.Client, outcome: str, status: int, message: str
):
    reply = rest.post("/translate", json={"q": "hola"}, headers={OUTCOME: outcome})
    assert reply.status_code == status
    assert reply.json() == {"error": message}


def test_envoys_own_answers_on_libretranslate_paths_are_error_strings(rest: httpx.Client):
    big = b'{"q":"' + b"a" * (2 * PUBLIC_BODY_BYTES) + b'"}'
    with contextlib.suppress(httpx.WriteError):  # Envoy may answer before reading it all
        reply = rest.post("/translate", content=big, headers={"content-type": "application/json"})
    assert reply.status_code == 413
    assert set(reply.json()) == {"error"}
    reply = rest.get("/languages", params={"colour": "blue"})  # the transcoder's own 400
    assert reply.status_code == 400
    assert set(reply.json()) == {"error"}
    assert "colour" in reply.json()["error"]
    assert rest.get("/languages").status_code == 200


# --- headers only services send -------------------------------------------------------------


def test_on_behalf_of_never_passes_the_edge(
    edge: str, rest: httpx.Client, token: str, services: tuple[Services, int]
):
    handler, _ = services
    headers = {"authorization": f"Bearer {token}", "voka-on-behalf-of": "users/ana"}
    assert rest.get("/v1/models", headers=headers).status_code == 200
    with grpc.insecure_channel(edge.removeprefix("http://")) as channel:
        call = channel.unary_unary("/voka.assistant.v1.OpenAiService/ListModels")
        call(b"", metadata=list(headers.items()), timeout=10)
    for metadata in handler.metadata[-2:]:
        assert metadata["authorization"] == f"Bearer {token}"
        assert "voka-on-behalf-of" not in metadata


# --- the generated routes (no Envoy) -------------------------------------------------------


@pytest.fixture(scope="module", params=["gen", "stand-ins"])
def any_contracts(request: pytest.FixtureRequest, contracts: Path) -> Path:
    """The real contracts (whatever they hold today) and the stand-ins."""
    return DESCRIPTOR_SET if request.param == "gen" else contracts


def route_dialect(route: dict[str, Any]) -> str | None:
    metadata = route.get("metadata", {}).get("filter_metadata", {})
    return metadata.get(EDGE_REPLIES_FILTER, {}).get(ERROR_DIALECT_KEY)


def test_every_route_of_a_foreign_api_names_its_dialect(any_contracts: Path):
    config = build_config(any_contracts, UPSTREAMS)
    for binding in http_bindings(any_contracts):
        route = first_match(config, sample_path(binding.template, binding.domain or "auth"))
        assert route_dialect(route) == binding.error_dialect, binding
    assert route_dialect(first_match(config, "/v1/anything")) == "openai"
    assert route_dialect(first_match(config, "/api/v1/anything")) is None
    assert virtual_host(config)["request_headers_to_remove"] == ["voka-on-behalf-of"]


def test_openai_paths_route_exactly(contracts: Path):
    config = build_config(contracts, UPSTREAMS)
    assert first_match(config, "/v1/chat/completions")["match"] == {"path": "/v1/chat/completions"}
    assert first_match(config, "/v1/models")["match"] == {"path": "/v1/models"}
    assert first_match(config, "/v1/models/m1")["match"] == {"prefix": "/v1/models/"}
    assert first_match(config, "/v1/chat/completions/x")["name"] == "not_found /v1/"


def test_the_api_reference_documents_each_dialects_errors(contracts: Path):
    doc = openapi.document(contracts)
    for path, verb, dialect in (
        ("/v1/chat/completions", "post", "OpenAi"),
        ("/v1/models/{model}", "get", "OpenAi"),
        ("/translate", "post", "LibreTranslate"),
        ("/api/v1/embeddings:embed", "post", ""),
    ):
        refused = doc["paths"][path][verb]["responses"]["400"]
        assert refused == {"$ref": f"#/components/responses/{dialect}BadRequest"}
        response = doc["components"]["responses"][f"{dialect}BadRequest"]
        schema = response["content"]["application/json"]["schema"]
        assert schema == {"$ref": f"#/components/schemas/{dialect}Error"}
    assert doc["components"]["schemas"]["OpenAiError"]["required"] == ["error"]
