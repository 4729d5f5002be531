"""The assistant service in process on a real NATS server, with the real local SmolLM2 model
answering (a few tokens per reply), on an SQLite file and on a fresh PostgreSQL database: every
test of a module using `service` runs on both."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from services.assistant.providers.local import LocalProvider
from services.assistant.service import SPEC
from services.assistant.settings import AssistantSettings, embedded_provider
from services.assistant.tools import ToolBox
from services.speech.service import SPEC as SPEECH
from services.speech.settings import SpeechSettings
from tests.fixtures.databases import postgres_admin_url
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.scripted_api import ScriptedApi
from tests.services.assistant.support import stdio_server
from tools.processes import NatsServer
from voka.assistant.v1 import assistant_pb2_grpc
from voka.server import Running, start

MAX_TOKENS = 12


class User:
    """The service's stub with one caller's bearer token on every call."""

    def __init__(self, stub: assistant_pb2_grpc.AssistantServiceStub, metadata: Any) -> None:
        self.stub = stub
        self.metadata = metadata

    def __getattr__(self, rpc: str) -> Callable[..., Any]:
        method = getattr(self.stub, rpc)
        return lambda request, **kwargs: method(request, metadata=self.metadata, **kwargs)


def _admin() -> str:
    return make_url(postgres_admin_url()).set(drivername="postgresql").render_as_string(False)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def assistant_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[str]:  # fmt: skip
    """One database per module and backend (the model load is shared by a module's tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'assistant.db'}"
        return
    name = f"voka_test_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(_admin(), autocommit=True, connect_timeout=3) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield make_url(_admin()).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_admin(), autocommit=True, connect_timeout=3) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def assistant_settings(tokens: TokenFactory, nats: NatsServer, data: Path, database_url: str,
                       **overrides: Any) -> AssistantSettings:  # fmt: skip
    return AssistantSettings(
        service="assistant", port=0, metrics_port=0, data_dir=data, jwks_file=tokens.jwks_file,
        nats_url=nats.url, database_url=database_url, assistant_max_output_tokens=MAX_TOKENS,
        **overrides,
    )  # fmt: skip


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory,
    nats: NatsServer,
    assistant_db: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    data = tmp_path_factory.mktemp("data")
    running = await start(SPEC, assistant_settings(tokens, nats, data, assistant_db))
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(service: Running) -> AsyncIterator[assistant_pb2_grpc.AssistantServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield assistant_pb2_grpc.AssistantServiceStub(channel)


@pytest.fixture
def alice(stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory) -> User:
    return User(stub, tokens.metadata(subject=f"users/alice-{uuid.uuid4().hex[:6]}"))


@pytest.fixture
def bob(stub: assistant_pb2_grpc.AssistantServiceStub, tokens: TokenFactory) -> User:
    return User(stub, tokens.metadata(subject=f"users/bob-{uuid.uuid4().hex[:6]}"))


# --- providers, MCP tools and the chat loop -------------------------------------------------


@pytest.fixture
async def scripted_api() -> AsyncIterator[ScriptedApi]:
    """The OpenAI/Anthropic wire-format server, answering from the test's script."""
    async with ScriptedApi() as api:
        yield api


@pytest.fixture(scope="module")
async def api() -> AsyncIterator[ScriptedApi]:
    """One scripted model for a module's service; each test's turns append their answers."""
    async with ScriptedApi() as served:
        yield served


@pytest.fixture(scope="module")
async def speech(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    """A real speech service on tiny.en, for the assistant's calls to it (voice, transcripts)."""
    settings = SpeechSettings(
        service="speech", port=0, metrics_port=0, data_dir=tmp_path_factory.mktemp("speech"),
        jwks_file=tokens.jwks_file, nats_url=nats.url, speech_default_model="tiny.en",
    )  # fmt: skip
    running = await start(SPEECH, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="session")
async def local_provider() -> AsyncIterator[LocalProvider]:
    """The embedded SmolLM2, loaded once for the session."""
    provider = LocalProvider(embedded_provider())
    await provider.warm()
    yield provider
    await provider.aclose()


@pytest.fixture(scope="module")
def mcp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mcp")


@pytest.fixture
def call_log(mcp_dir: Path) -> Path:
    """Where the test MCP server logs the calls it ran; empty at the start of each test."""
    path = mcp_dir / "calls.jsonl"
    path.unlink(missing_ok=True)
    return path


@pytest.fixture(scope="module")
def mcp_config(mcp_dir: Path) -> Path:
    """A servers file with the test MCP server over stdio as `calc`."""
    path = mcp_dir / "mcp.json"
    path.write_text(json.dumps({"servers": {"calc": stdio_server(mcp_dir / "calls.jsonl")}}))
    return path


@pytest.fixture(scope="module")
async def toolbox(mcp_config: Path) -> AsyncIterator[ToolBox]:
    """The test MCP server connected, shared by a module's tests (it starts in seconds)."""
    box = ToolBox.from_config(mcp_config)
    await box.start()
    yield box
    await box.aclose()
