"""A mesh of its own for the fuzz run: schemathesis calls every operation, destructive ones
included (deleting the caller, pausing the scheduler), so it must not share the end-to-end
tests' mesh."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from schemathesis.schemas import BaseSchema

from gateway.config import RateLimit
from services.auth.cli import create_admin
from services.auth.settings import AuthSettings
from tests.e2e.conftest import speech_env
from tools.mesh import Mesh, Ports

LIVE_STREAMS = ("TASKS_LIVE", "ASSISTANT_WATCH")  # their settings' prefixes


@pytest.fixture(scope="package")
def fuzz_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = Mesh(
        tmp_path_factory.mktemp("fuzz-mesh"),
        Ports.free(),
        {
            "VOKA_LOG_JSON": "true",
            "VOKA_RATE_LIMIT_PER_SECOND": "0",
            # The live SSE streams (tasks:updates, conversations:watch) end after a second or
            # two of quiet instead of ten minutes, so each generated call gets its whole answer.
            **{f"VOKA_{live}_IDLE_SECONDS": "1" for live in LIVE_STREAMS},
            **{f"VOKA_{live}_HEARTBEAT_SECONDS": "1" for live in LIVE_STREAMS},
        },
        # The edge's limit would answer most of the run with 429: lifted, as benchmarks do.
        envoy_options={"rate_limit": RateLimit(tokens_per_fill=1_000_000, fill_interval_s=1.0)},
        service_env={"speech": speech_env(tmp_path_factory.mktemp("fuzz-speech-models"))},
    )
    with running:
        yield running


@pytest.fixture(scope="package")
def admin_headers(fuzz_mesh: Mesh) -> dict[str, str]:
    """An admin, made as an operator makes one, so admin-only operations are exercised too."""
    name, password = f"fuzz{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    settings = AuthSettings(service="auth", data_dir=fuzz_mesh.var)
    asyncio.run(create_admin(settings, name, f"{name}@example.com", password))
    login = httpx.post(f"{fuzz_mesh.rest_url}/api/v1/auth/login",
                       json={"username": name, "password": password}, timeout=30)  # fmt: skip
    assert login.status_code == 200, login.text
    return {"authorization": f"Bearer {login.json()['accessToken']}"}


@pytest.fixture(scope="package")
def api_schema(fuzz_mesh: Mesh) -> BaseSchema:
    """The OpenAPI document as the running Envoy serves it."""
    return schemathesis.openapi.from_url(f"{fuzz_mesh.rest_url}/api/v1/openapi.json")
