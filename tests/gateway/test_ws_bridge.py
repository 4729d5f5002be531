"""The edge's second door: Envoy upgrades `/api/v1/ws/` to a WebSocket on that route alone and
passes it to the bridge, whose refusals reach the client as close codes.

The config is checked as data; then a real Envoy runs it in front of a real bridge whose
services are down (a closed port), which is all the refusals before a stream need. Streams
against the real services are tests/e2e/test_websocket.py."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from gateway.config import JWT_PROVIDER, WS_CLUSTER, WS_PREFIX, build_config, write_config
from tests.gateway.envoy import envoy_in_front
from tests.gateway.test_config import (
    DESCRIPTOR_SET,
    UPSTREAMS,
    edge_requires,
    envoy_validate,
    first_match,
    free_port,
    hcm,
    virtual_host,
)
from tests.gateway.ws import bridge_process, closed
from tools.processes import free_ports

pytestmark = pytest.mark.integration

BRIDGE = "127.0.0.1:8090"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
START = {"type": "start", "token": "not-checked-before-the-service", "config": {}}


# --- the config ------------------------------------------------------------------------------


def test_sockets_are_upgraded_on_their_prefix_alone():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS, ws_bridge=BRIDGE)
    for name in ("voice-chat", "recognize"):
        route = first_match(config, WS_PREFIX + name)
        assert route["route"]["cluster"] == WS_CLUSTER
        assert route["route"]["upgrade_configs"] == [{"upgrade_type": "websocket"}]
        assert route["typed_per_filter_config"][TRANSCODER]["disabled"] is True
    upgrading = [
        r for r in virtual_host(config)["routes"] if "upgrade_configs" in r.get("route", {})
    ]
    assert [r["match"] for r in upgrading] == [{"prefix": WS_PREFIX}]
    assert "upgrade_configs" not in hcm(config)


def test_the_upgrade_needs_no_token_at_the_edge():
    """The credential arrives in the first frame (a browser sets no header on a WebSocket)."""
    config = build_config(DESCRIPTOR_SET, UPSTREAMS, ws_bridge=BRIDGE)
    assert edge_requires(config, "get", WS_PREFIX + "voice-chat") is None
    assert edge_requires(config, "get", "/api/v1/users/me", "Bearer eyJx") == JWT_PROVIDER


def test_the_bridge_is_an_http1_cluster_checked_on_its_health():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS, ws_bridge=BRIDGE)
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    bridge = clusters[WS_CLUSTER]
    assert "typed_extension_protocol_options" not in bridge  # HTTP/1.1: upgrades
    assert bridge["health_checks"][0]["http_health_check"] == {"path": "/health"}
    address = bridge["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert address["socket_address"] == {"address": "127.0.0.1", "port_value": 8090}


def test_without_a_bridge_sockets_are_the_json_404():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    assert first_match(config, WS_PREFIX + "voice-chat")["name"] == "not_found"
    assert WS_CLUSTER not in {c["name"] for c in config["static_resources"]["clusters"]}


def test_envoy_accepts_the_config_with_the_bridge(tmp_path: Path):
    path = tmp_path / "envoy.json"
    ports = {"listen_port": free_port(), "admin_port": free_port()}
    write_config(path, DESCRIPTOR_SET, UPSTREAMS, ws_bridge="ws-bridge.voka.svc:8090", **ports)
    result = envoy_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- through a real Envoy --------------------------------------------------------------------


@pytest.fixture(scope="module")
def services_down() -> int:
    """A port nothing listens on: every stream the bridge opens fails UNAVAILABLE."""
    return free_ports(1)[0]


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory, services_down: int) -> Iterator[str]:
    """The WebSocket base URL of an Envoy in front of a bridge with small bounds."""
    var = tmp_path_factory.mktemp("ws-edge")
    down = f"127.0.0.1:{services_down}"
    env = {
        "VOKA_ADDRESSES": json.dumps({"speech": down, "assistant": down}),
        "VOKA_WS_START_TIMEOUT_SECONDS": "1",
        "VOKA_WS_MAX_SESSIONS": "2",
        "VOKA_WS_MAX_FRAME_BYTES": "4096",
    }
    with bridge_process(var, env) as (address, _):
        domains = ["speech", "assistant"]
        with envoy_in_front(DESCRIPTOR_SET, domains, services_down, var, address) as url:
            yield url.replace("http://", "ws://", 1) + WS_PREFIX


async def test_an_upgrade_through_envoy_reaches_the_bridge(edge: str):
    """A socket that sends nothing: the bridge's own refusal, passed through by Envoy."""
    async with connect(edge + "recognize") as ws:
        code, reason = await closed(ws)
    assert code == 1008
    assert reason.startswith("start_timeout:")


async def test_a_frame_over_the_bound_is_1009(edge: str):
    async with connect(edge + "voice-chat", max_size=None) as ws:
        await ws.send("x" * 5000)
        code, _ = await closed(ws)
    assert code == 1009


@pytest.mark.parametrize(
    ("first", "reason"),
    [
        ("hello", "bad_message: not JSON"),
        (b"\x00\x01", 'bad_message: the first frame must be the text frame "start"'),
        ('{"type": "end"}', 'bad_message: the first frame must be "start"'),
        ('{"type": "start", "token": "t", "config": {"bogus": 1}}', "bad_message: config:"),
        ('{"type": "start", "token": "t", "config": []}', 'bad_message: "config" must be'),
        ('{"type": "start", "config": {}}', "token_missing:"),
        ('{"type": "start", "token": "a b\\n", "config": {}}', "token_malformed:"),
    ],
)
async def test_a_bad_first_frame_is_refused_with_its_reason(edge: str, first: str, reason: str):
    async with connect(edge + "voice-chat") as ws:
        await ws.send(first)
        code, got = await closed(ws)
    assert got.startswith(reason), got
    assert code == (1008 if reason.startswith("token") else 1007)


async def test_a_service_down_is_1013_after_an_error_frame(edge: str):
    async with connect(edge + "recognize") as ws:
        await ws.send(json.dumps(START))
        error = json.loads(await ws.recv())
        code, reason = await closed(ws)
    assert error["type"] == "error"
    assert error["error"]["code"] == "UNAVAILABLE"
    assert (code, reason.split(":")[0]) == (1013, "UNAVAILABLE")


async def test_sockets_past_the_cap_are_told_to_try_again(edge: str):
    async with connect(edge + "recognize") as first, connect(edge + "voice-chat") as second:
        async with connect(edge + "recognize") as third:
            code, reason = await closed(third)
        assert (code, reason) == (1013, "try_again_later: this bridge already holds its 2 sessions")
        assert (await closed(first))[0] == (await closed(second))[0] == 1008  # start_timeout


async def test_a_path_no_socket_serves_is_404(edge: str):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(edge + "nothing-here"):
            pass
    assert refused.value.response.status_code == 404


def test_the_bridge_answers_health_and_metrics(tmp_path: Path):
    with bridge_process(tmp_path, {}) as (address, _):
        assert httpx.get(f"http://{address}/health").text == "serving\n"
        metrics = httpx.get(f"http://{address}/metrics")
        assert metrics.status_code == 200
        assert "voka_ws_sessions_open 0.0" in metrics.text


async def test_a_stopping_bridge_closes_its_sockets_with_1001(tmp_path: Path):
    with bridge_process(tmp_path, {"VOKA_WS_START_TIMEOUT_SECONDS": "30"}) as (address, proc):
        async with connect(f"ws://{address}{WS_PREFIX}recognize") as ws:
            await asyncio.sleep(0.2)  # the session is open in the bridge
            proc.send_signal(signal.SIGTERM)
            code, reason = await closed(ws)
        assert code == 1001
        assert reason.startswith("shutting_down:")
        assert await asyncio.to_thread(proc.wait, 10) == 0
