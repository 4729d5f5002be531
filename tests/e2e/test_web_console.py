"""The web console through the mesh's real Envoy: the built page and its assets at `/`, the
gRPC-Web calls the page makes on the same origin (a field violation arrives as the
google.rpc.BadRequest the page shows under the field), and the API paths beside it untouched.
The pages themselves are driven in Chromium by tests/browser/."""

from __future__ import annotations

import base64
import os
import re
import shutil
import struct
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from gateway.web import CONTENT_SECURITY_POLICY, IMMUTABLE, WebAssets
from tests.e2e.conftest import sign_in
from tools.mesh import Mesh
from voka.auth.v1 import auth_pb2
from voka.translate.v1 import translate_pb2

pytestmark = pytest.mark.integration

WEB = Path(__file__).resolve().parents[2] / "web"
GRPC_WEB = "application/grpc-web+proto"
ASSET = re.compile(r'(?:src|href)="(/assets/[^"]+)"')


@pytest.fixture(scope="module")
def dist() -> Path:
    console = WebAssets()
    assert console.built(), "web/dist is missing: `make install` builds the console"
    return console.dist


def grpc_web(rest: httpx.Client, method: str, request: Message, headers: dict[str, str]):
    """One unary gRPC-Web call, framed as the console's transport frames it; answers the reply
    bytes (or None) and the trailers, from the trailer frame or, trailers-only, the headers."""
    body = request.SerializeToString()
    reply = rest.post(
        method,
        content=b"\x00" + struct.pack(">I", len(body)) + body,
        headers={"content-type": GRPC_WEB, "x-grpc-web": "1", **headers},
    )
    assert reply.status_code == 200, reply.text
    trailers = {k: v for k, v in reply.headers.items() if k.startswith("grpc-")}
    message, data = None, reply.content
    while data:
        flag, length = data[0], struct.unpack(">I", data[1:5])[0]
        frame, data = data[5 : 5 + length], data[5 + length :]
        if flag & 0x80:
            for line in frame.decode().strip().split("\r\n"):
                key, _, value = line.partition(":")
                trailers[key.strip().lower()] = value.strip()
        else:
            message = frame
    return message, trailers


def test_the_console_page_is_served_at_the_root(rest: httpx.Client, dist: Path):
    reply = rest.get("/")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert reply.headers["cache-control"] == "no-cache"
    assert reply.text == (dist / "index.html").read_text()
    assert '<div id="root"></div>' in reply.text


def test_every_asset_the_page_names_is_served_as_built(rest: httpx.Client, dist: Path):
    assets = ASSET.findall(rest.get("/").text)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    for asset in assets:
        reply = rest.get(asset)
        assert reply.status_code == 200, asset
        assert reply.headers["cache-control"] == IMMUTABLE
        assert reply.headers["x-content-type-options"] == "nosniff"
        assert reply.content == (dist / asset.lstrip("/")).read_bytes()
    assert rest.get("/assets/index-missing.js").json()["code"] == 5


def test_the_pages_grpc_web_calls_reach_the_services(rest: httpx.Client):
    headers = sign_in(rest)
    message, trailers = grpc_web(
        rest,
        "/voka.translate.v1.TranslateService/ListLanguages",
        translate_pb2.ListLanguagesRequest(installed_only=True),
        headers,
    )
    assert trailers["grpc-status"] == "0", trailers
    assert message is not None
    languages = translate_pb2.ListLanguagesResponse.FromString(message).languages
    assert "es" in {language.language_code for language in languages}


def test_a_refused_call_carries_the_field_violation_the_page_shows(rest: httpx.Client):
    _, trailers = grpc_web(
        rest,
        "/voka.translate.v1.TranslateService/TranslateText",
        translate_pb2.TranslateTextRequest(text="", target_language_code="en"),
        sign_in(rest),
    )
    assert trailers["grpc-status"] == "3", trailers
    status = status_pb2.Status.FromString(_unbase64(trailers["grpc-status-details-bin"]))
    bad_request = error_details_pb2.BadRequest()
    assert any(detail.Unpack(bad_request) for detail in status.details)
    assert [v.field for v in bad_request.field_violations] == ["text"]


def test_a_wrong_password_is_refused_over_grpc_web_as_unauthenticated(rest: httpx.Client):
    _, trailers = grpc_web(
        rest,
        "/voka.auth.v1.AuthService/Login",
        auth_pb2.LoginRequest(username=f"nobody{uuid.uuid4().hex[:8]}", password="x" * 12),
        {},
    )
    assert trailers["grpc-status"] == "16", trailers


def test_the_api_beside_the_console_is_untouched(rest: httpx.Client):
    assert rest.post("/").json()["code"] == 5  # only GET is the console
    assert rest.get("/docs").headers["content-type"].startswith("text/html")
    libre = rest.post("/translate", json={"q": "hola", "source": "es", "target": "en"})
    assert libre.status_code != 404, libre.text  # LibreTranslate's own path, not the console's


def test_the_consoles_client_code_works_against_the_mesh(mesh: Mesh, dist: Path):
    """web/src/mesh/client.mesh.ts, in Node: the generated client, the transport's token refresh
    and the error mapping the pages use, over gRPC-Web through this mesh's Envoy."""
    npm = shutil.which("npm")
    assert npm, "npm is missing: the console cannot be built or tested"
    result = subprocess.run(
        [npm, "run", "--silent", "test:mesh"],
        cwd=WEB,
        env={**os.environ, "VOKA_URL": mesh.rest_url, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"Tests\s+\d+ passed", result.stdout), result.stdout[-2000:]


def _unbase64(value: str) -> bytes:
    """gRPC-Web's binary trailers are base64, padding optional."""
    return base64.b64decode(value + "=" * (-len(value) % 4))
