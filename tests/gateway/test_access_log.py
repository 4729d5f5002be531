"""Envoy's access log, through a real Envoy in front of the stand-in upstream of the edge tests:
a line for each request refused or failed, none for one that succeeded (formatting and writing
a line per call was work on every call's path; issue 16, item 4), every request when asked."""

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

from tests.gateway import test_edge_replies
from tests.gateway.envoy import envoy_in_front
from tests.gateway.test_config import DESCRIPTOR_SET

pytestmark = pytest.mark.integration

REFUSED = "/api/v1/no-such-path"
DOMAINS = test_edge_replies.DOMAINS
upstream = test_edge_replies.upstream  # the fixture: the stand-in upstream of the edge tests


@contextlib.contextmanager
def _envoy(var: Path, upstream_port: int, every_request: bool) -> Iterator[tuple[str, Path]]:
    """Envoy in front of the upstream, its access log flushed often; yields (URL, log)."""
    flushed_often = ("--file-flush-interval-msec", "50")
    with envoy_in_front(
        DESCRIPTOR_SET, DOMAINS, upstream_port, var, None, flushed_often,
        log_every_request=every_request,
    ) as url:  # fmt: skip
        yield url, var / "envoy.log"


@pytest.fixture(params=[False, True], ids=["refusals", "every-request"])
def edge(
    request: pytest.FixtureRequest, upstream: tuple[Any, int], tmp_path: Path
) -> Iterator[tuple[str, Path, bool]]:
    _, port = upstream
    with _envoy(tmp_path, port, request.param) as (url, log):
        yield url, log, request.param


def _logged(log: Path) -> list[dict[str, Any]]:
    lines = log.read_text().splitlines() if log.exists() else []
    return [json.loads(line) for line in lines if line.startswith("{")]


def _paths_once_flushed(log: Path, expected: set[str]) -> set[str]:
    """The paths logged, once every path of `expected` is there (Envoy flushes in the
    background) and a moment more for anything else on its way."""
    deadline = time.monotonic() + 10
    while not expected <= {line["path"] for line in _logged(log)}:
        assert time.monotonic() < deadline, f"never logged: {expected}; log: {_logged(log)}"
        time.sleep(0.05)
    time.sleep(0.3)
    return {line["path"] for line in _logged(log)}


def test_the_access_log_has_refusals_and_faults_unless_asked_for_everything(
    edge: tuple[str, Path, bool],
):
    url, log, every_request = edge
    with httpx.Client(base_url=url, timeout=10) as rest:
        # Public REST (no token needed), answered by the upstream: a success.
        login = rest.post("/api/v1/auth/login", json={"username": "u", "password": "p"})
        assert login.status_code == 200, login.text
        assert rest.get(REFUSED).status_code == 404  # Envoy's own refusal
    granted = "/voka.auth.v1.AuthService/Login"  # public native gRPC: a success
    refused = "/voka.tasks.v1.TasksService/ListTasks"  # no token: UNAUTHENTICATED, HTTP 200
    with grpc.insecure_channel(url.removeprefix("http://")) as channel:
        channel.unary_unary(granted)(b"", timeout=10)
        with pytest.raises(grpc.RpcError) as refusal:
            channel.unary_unary(refused)(b"", timeout=10)
        assert refusal.value.code() == grpc.StatusCode.UNAUTHENTICATED
    paths = _paths_once_flushed(log, {REFUSED, refused})
    successes = {"/api/v1/auth/login", granted}
    assert (successes <= paths) is every_request
    assert not every_request or paths >= successes | {REFUSED, refused}
    if not every_request:
        assert paths.isdisjoint(successes)
