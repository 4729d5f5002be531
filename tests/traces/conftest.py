"""A mesh of its own whose spans leave the processes: every service and Envoy export over
OTLP/gRPC to a real receiver in the test process. Its own, so the shared end-to-end mesh stays
as `make up` runs it (no exporter)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.conftest import speech_env
from tests.traces.otlp import Receiver, otlp_receiver
from tools.mesh import Mesh, Ports


@pytest.fixture(scope="package")
def receiver() -> Iterator[Receiver]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="package")
def traced_mesh(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Mesh]:
    running = Mesh(
        tmp_path_factory.mktemp("traced-mesh"),
        Ports.free(),
        {
            "VOKA_LOG_JSON": "true",
            # The standard variables, as a cluster sets them; Envoy traces to the same endpoint.
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans arrive while the test waits
        },
        service_env={
            "speech": speech_env(tmp_path_factory.mktemp("traced-speech-models")),
            "auth": {"VOKA_AUTH_IP_REGISTRATIONS": "100000"},
        },
    )
    with running:
        yield running


@pytest.fixture(scope="package")
def traced_rest(traced_mesh: Mesh) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=traced_mesh.rest_url, timeout=30) as client:
        yield client
