"""The Voka versions of the five old backends' client snippets in docs/migrating.md, run as a
migrating user runs them — each in its own interpreter (or bash), against the mesh's real Envoy.

A runnable snippet is a fenced block whose info string carries `title="voka: <id>"` and
`expect="<regex>"`, the regex its output must match (so a snippet that prints an empty body or an
error does not pass). Optional attributes: `as="admin"` (the credential is an admin's) and
`needs="METHOD /path"`, a REST route that must exist in gen/openapi.json: snippets for endpoints
that have not landed yet are skipped, naming the route, and run on their own once it lands.

Snippets read their base URL and credential from the environment, as the guide tells readers to:
`VOKA_URL`, `VOKA_TOKEN` (a bearer JWT), `VOKA_API_KEY` (a `vk_` key of the same user),
`VOKA_USERNAME` / `VOKA_PASSWORD`. They run in an empty directory holding `speech.wav`, an English
sentence spoken by the speech service's Piper voice."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_webhooks import admin
from tools.mesh import Mesh

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "migrating.md"
OPENAPI = ROOT / "gen" / "openapi.json"
FENCE = re.compile(r"^```(?P<language>\w+)(?P<info>[^\n]*)\n(?P<code>.*?)^```$", re.M | re.S)
ATTRIBUTE = re.compile(r'(\w+)="([^"]*)"')
TITLE_PREFIX = "voka: "
INTERPRETERS = {"python": [sys.executable], "bash": ["bash", "-euo", "pipefail"]}
# The assistant's packaged model and Whisper share two cores with the whole mesh.
SNIPPET_TIMEOUT_S = 300
SPOKEN = "Please send the quarterly report to the finance team before Friday."


@dataclass(frozen=True)
class Snippet:
    """One runnable block of the guide."""

    name: str
    language: str
    code: str
    expect: str
    role: str
    needs: str


def snippets() -> list[Snippet]:
    """Every block of the guide titled `voka: ...`; a titled block without `expect` is an error
    of the guide, caught here rather than passing silently."""
    found = []
    for block in FENCE.finditer(GUIDE.read_text(encoding="utf-8")):
        attributes = dict(ATTRIBUTE.findall(block["info"]))
        title = attributes.get("title", "")
        if not title.startswith(TITLE_PREFIX):
            continue
        assert block["language"] in INTERPRETERS, f"{title}: no interpreter for {block['language']}"
        assert attributes.get("expect"), f"{title}: a runnable snippet says what it must print"
        re.compile(attributes["expect"])  # a quote inside ends the attribute: fail here, loudly
        found.append(
            Snippet(
                name=title.removeprefix(TITLE_PREFIX),
                language=block["language"],
                code=block["code"],
                expect=attributes["expect"],
                role=attributes.get("as", "user"),
                needs=attributes.get("needs", ""),
            )
        )
    return found


def missing_route(needs: str) -> str | None:
    """The route a snippet needs, when gen/openapi.json does not have it yet."""
    if not needs:
        return None
    method, path = needs.split(" ", 1)
    paths = json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"]
    return None if method.lower() in paths.get(path, {}) else needs


@dataclass(frozen=True)
class Account:
    """A credential as a migrating client holds one."""

    username: str
    password: str
    token: str
    api_key: str


def open_account(rest: httpx.Client, headers: dict[str, str] | None = None) -> Account:
    """A fresh user with a token and an API key; `headers` instead: that (admin's) token, with no
    username or password (the admin snippets sign in with the token)."""
    username, password = "", ""
    if headers is None:
        username, password = f"mig{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}"
        account = {"username": username, "email": f"{username}@example.com", "password": password}
        assert rest.post("/api/v1/auth/register", json=account).status_code == 200
        login = rest.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert login.status_code == 200, login.text
        headers = {"authorization": f"Bearer {login.json()['accessToken']}"}
    key = rest.post("/api/v1/users/me/api-keys", json={"displayName": "migration"}, headers=headers)
    assert key.status_code == 200, key.text
    token = headers["authorization"].removeprefix("Bearer ")
    return Account(username, password, token, key.json()["secret"])


@pytest.fixture(scope="module")
def accounts(rest: httpx.Client, mesh: Mesh) -> dict[str, Account]:
    return {"user": open_account(rest), "admin": open_account(rest, admin(rest, mesh))}


@pytest.fixture(scope="module")
def speech_wav(rest: httpx.Client, accounts: dict[str, Account]) -> bytes:
    reply = rest.post(
        "/api/v1/tts/synthesize",
        json={"text": SPOKEN, "voice": "voices/piper-en-us-joe-medium"},
        headers={"authorization": f"Bearer {accounts['user'].token}"},
    )
    assert reply.status_code == 200, reply.text
    return reply.content


@pytest.fixture
def workdir(tmp_path: Path, speech_wav: bytes) -> Path:
    (tmp_path / "speech.wav").write_bytes(speech_wav)
    return tmp_path


def test_the_guide_has_runnable_snippets_for_every_backend() -> None:
    names = [snippet.name for snippet in snippets()]
    assert len(names) == len(set(names)), "snippet titles are unique"
    for backend in ("vokaflow", "vektor", "st", "v1tr0", "ova"):
        assert any(name.startswith(f"{backend}-") for name in names), backend


@pytest.mark.parametrize("snippet", snippets(), ids=lambda snippet: snippet.name)
def test_snippet_runs_against_the_mesh(
    snippet: Snippet, mesh: Mesh, accounts: dict[str, Account], workdir: Path
) -> None:
    if pending := missing_route(snippet.needs):
        pytest.skip(f"pending: {pending} has not landed (issue 17)")
    account = accounts[snippet.role]
    environment = {
        **os.environ,
        "VOKA_URL": mesh.rest_url,
        "VOKA_TOKEN": account.token,
        "VOKA_API_KEY": account.api_key,
        "VOKA_USERNAME": account.username,
        "VOKA_PASSWORD": account.password,
    }
    command = [*INTERPRETERS[snippet.language], "-c", snippet.code]
    ran = subprocess.run(
        command,
        cwd=workdir,
        env=environment,
        capture_output=True,
        text=True,
        timeout=SNIPPET_TIMEOUT_S,
        check=False,
    )
    shown = f"$ {shlex.join(command[:-1])} <{snippet.name}>\n{ran.stdout}\n{ran.stderr}"
    assert ran.returncode == 0, shown
    assert re.search(snippet.expect, ran.stdout), f"expected /{snippet.expect}/ in:\n{shown}"
