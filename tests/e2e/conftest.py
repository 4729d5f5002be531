"""The whole mesh as `make up` runs it — real nats-server, seven service processes, real Envoy —
on free ports in a temporary directory, shared by the end-to-end tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.tokens import TokenFactory
from tools.mesh import Mesh, Ports


@pytest.fixture(scope="package")
def mesh(tokens: TokenFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    running = Mesh(
        tmp_path_factory.mktemp("mesh"),
        Ports.free(),
        extra_env={"VOKA_JWKS_FILE": str(tokens.jwks_file), "VOKA_LOG_JSON": "true"},
    )
    with running:
        yield running
