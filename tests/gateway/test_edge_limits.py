"""The edge's per-client limits and trusted client addresses, through a real Envoy.

Envoy runs the generated config in front of a stand-in auth service (its JWKS, and whatever
metadata reaches it); clients speak from distinct loopback addresses (127.0.0.0/8 is all the
machine's own), so each address is a client of its own. Every bucket holds 3 requests a minute,
which no refill tops up during a test.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from gateway.config import write_config
from tests.fixtures.tokens import TokenFactory
from tools.processes import BIN, exited_with_log, free_ports, stop, wait_http
from voka.auth.v1 import auth_pb2, auth_pb2_grpc

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BUCKET = (3, 60.0)
JWKS = "/api/v1/auth/jwks"  # public, answered by the stand-in
ME = "/api/v1/users/me"  # needs a token; the stand-in does not implement it (501)


@dataclass
class StandInAuth(auth_pb2_grpc.AuthServiceServicer):
    """GetJwks from the test key ring; remembers the address Envoy vouched for on each call."""

    jwks: dict[str, Any]
    external_addresses: list[str] = field(default_factory=list)

    def GetJwks(self, request: Any, context: grpc.ServicerContext) -> auth_pb2.GetJwksResponse:
        metadata = dict(context.invocation_metadata())
        self.external_addresses.append(str(metadata.get("x-envoy-external-address", "")))
        return json_format.ParseDict(self.jwks, auth_pb2.GetJwksResponse())


@dataclass
class Edge:
    url: str
    auth: StandInAuth


@contextmanager
def edge(tmp_path: Path, tokens: TokenFactory, xff_num_trusted_hops: int) -> Iterator[Edge]:
    auth_port, port, admin_port = free_ports(3)
    auth = StandInAuth(json.loads(tokens.jwks_file.read_text()))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(auth, server)
    checks = health.HealthServicer()
    checks.set("", health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(checks, server)
    server.add_insecure_port(f"127.0.0.1:{auth_port}")
    server.start()
    config = tmp_path / "envoy.json"
    write_config(
        config,
        ROOT / "gen" / "voka.binpb",
        {"auth": f"127.0.0.1:{auth_port}"},
        listen_port=port,
        admin_port=admin_port,
        rate_limit=BUCKET,
        xff_num_trusted_hops=xff_num_trusted_hops,
    )
    log = tmp_path / "envoy.log"
    argv = [str(BIN / "envoy"), "-c", str(config), "--base-id", str(port)]
    with log.open("wb") as out:
        envoy = subprocess.Popen([*argv, "--disable-hot-restart"], stdout=out, stderr=out)
    try:
        alive = exited_with_log("envoy", envoy, log)
        wait_http(f"http://127.0.0.1:{port}/health", alive)
        _wait_for_jwks(admin_port, alive)
        auth.external_addresses.clear()  # Envoy's own fetch
        yield Edge(f"http://127.0.0.1:{port}", auth)
    finally:
        stop(envoy)
        server.stop(None)


def _wait_for_jwks(admin_port: int, alive: Any) -> None:
    """Until jwt_authn has the keys (fetched through Envoy's own listener)."""
    deadline = time.monotonic() + 30
    stats = f"http://127.0.0.1:{admin_port}/stats?filter=jwks_fetch_success"
    while time.monotonic() < deadline:
        alive()
        text = httpx.get(stats).text
        if any(line.rsplit(":", 1)[-1].strip() not in ("", "0") for line in text.splitlines()):
            return
        time.sleep(0.1)
    raise AssertionError("Envoy never fetched the JWKS")


def status(edge: Edge, path: str, source: str, headers: dict[str, str] | None = None) -> int:
    """One request from the loopback address `source`, on a connection of its own."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=edge.url, transport=transport, timeout=10) as client:
        return client.get(path, headers=headers).status_code


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory, tokens: TokenFactory) -> Iterator[Edge]:
    """Clients reach Envoy directly: the TCP peer is the client."""
    with edge(tmp_path_factory.mktemp("direct"), tokens, xff_num_trusted_hops=0) as running:
        yield running


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory, tokens: TokenFactory) -> Iterator[Edge]:
    """One trusted proxy in front of Envoy, appending the client to x-forwarded-for."""
    with edge(tmp_path_factory.mktemp("proxied"), tokens, xff_num_trusted_hops=1) as running:
        yield running


def test_each_client_address_has_its_own_bucket(direct: Edge):
    assert [status(direct, JWKS, "127.0.0.2") for _ in range(4)] == [200, 200, 200, 429]
    assert status(direct, JWKS, "127.0.0.3") == 200  # another client is not held back


def test_a_client_cannot_leave_its_bucket_by_naming_another_address(direct: Edge):
    direct.auth.external_addresses.clear()
    codes = [
        status(direct, JWKS, "127.0.0.4", {"x-forwarded-for": f"198.51.100.{n}"}) for n in range(4)
    ]
    assert codes == [200, 200, 200, 429]
    assert set(direct.auth.external_addresses) == {"127.0.0.4"}  # what the services are told


def test_a_signed_in_user_has_one_bucket_wherever_it_comes_from(direct: Edge, tokens: TokenFactory):
    alice = {"authorization": f"Bearer {tokens.mint('users/alice-edge')}"}
    bob = {"authorization": f"Bearer {tokens.mint('users/bob-edge')}"}
    codes = [status(direct, ME, f"127.0.0.{n}", alice) for n in (10, 11, 12, 13)]
    assert codes[:3] == [501] * 3, codes  # through the edge to the stand-in
    assert codes[3] == 429  # a fresh address, but alice's fourth request
    assert status(direct, ME, "127.0.0.13", bob) == 501


def test_behind_a_trusted_proxy_each_forwarded_client_has_its_bucket(proxied: Edge):
    """The proxy (127.0.0.20) appends each client's address; whatever a client put in front of
    it is not trusted."""
    proxied.auth.external_addresses.clear()
    first = {"x-forwarded-for": "203.0.113.9, 198.51.100.1"}  # the client wrote 203.0.113.9
    assert [status(proxied, JWKS, "127.0.0.20", first) for _ in range(4)] == [200, 200, 200, 429]
    assert status(proxied, JWKS, "127.0.0.20", {"x-forwarded-for": "198.51.100.2"}) == 200
    assert set(proxied.auth.external_addresses) == {"198.51.100.1", "198.51.100.2"}
