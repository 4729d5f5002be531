"""A socket outliving its access token: the client sends a fresh one (`{"type": "token"}`)
before the old one expires and the session goes on; without one the bridge closes with 1008
`token_expired`; a fresh token that is forged, expired, another caller's or an API key closes
with 1008 `token_refused`.

A real bridge process verifies the fresh tokens against a real JWKS file. The stream behind it
is a stand-in SpeechService (one `receivedDuration` per audio chunk): what is under test is the
bridge's hold on the credential, not recognition (tests/e2e/test_websocket.py has the real one).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf import duration_pb2
from websockets.asyncio.client import ClientConnection, connect

from gateway.ws_bridge.endpoints import PREFIX
from tests.fixtures.tokens import TokenFactory
from tests.gateway.envoy import serving
from tests.gateway.ws import bridge_process, closed
from voka.speech.v1 import speech_pb2

pytestmark = pytest.mark.integration

CHUNK = b"\0\0" * 1600  # 0.1 s of 16 kHz PCM16


def echo_durations(requests: Iterator[speech_pb2.StreamingRecognizeRequest], context: Any):
    """The stand-in stream: one response per audio chunk, counting the chunks."""
    chunks = 0
    for request in requests:
        if request.WhichOneof("streaming_request") == "audio":
            chunks += 1
            duration = duration_pb2.Duration(seconds=chunks)  # a count, not a real duration
            yield speech_pb2.StreamingRecognizeResponse(received_duration=duration)


@pytest.fixture(scope="module")
def bridge(tokens: TokenFactory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The socket URL of `recognize` on a bridge that verifies fresh tokens with `tokens`'
    keys, its stream served by the stand-in."""
    handler = grpc.method_handlers_generic_handler(
        "voka.speech.v1.SpeechService",
        {"StreamingRecognize": grpc.stream_stream_rpc_method_handler(
            echo_durations,
            request_deserializer=speech_pb2.StreamingRecognizeRequest.FromString,
            response_serializer=speech_pb2.StreamingRecognizeResponse.SerializeToString,
        )},
    )  # fmt: skip
    with serving(handler) as port:
        env = {
            "VOKA_ADDRESSES": json.dumps({"speech": f"127.0.0.1:{port}"}),
            "VOKA_JWKS_FILE": str(tokens.jwks_file),
            "VOKA_WS_IDLE_SECONDS": "30",
        }
        with bridge_process(tmp_path_factory.mktemp("ws-tokens"), env) as (address, _):
            yield f"ws://{address}{PREFIX}recognize"


async def started(url: str, token: str) -> ClientConnection:
    ws = await connect(url)
    await ws.send(json.dumps({"type": "start", "token": token, "config": {}}))
    return ws


async def chunk_answered(ws: ClientConnection) -> dict[str, Any]:
    """Send one audio chunk; the response it brings back."""
    await ws.send(CHUNK)
    return json.loads(await ws.recv())


async def test_a_fresh_token_keeps_the_session_past_the_first_ones_expiry(
    bridge: str, tokens: TokenFactory
):
    ws = await started(bridge, tokens.mint(subject="users/una", ttl=2))
    assert "receivedDuration" in (await chunk_answered(ws))["response"]
    await ws.send(json.dumps({"type": "token", "token": tokens.mint(subject="users/una")}))
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:  # well past the first token's 2 s
        assert (await chunk_answered(ws))["type"] == "response"
        await asyncio.sleep(0.1)  # real time, within the audio rate bound
    await ws.send(json.dumps({"type": "end"}))
    assert await closed(ws) == (1000, "done: the stream ended")


async def test_a_token_that_expires_unrefreshed_closes_the_session(
    bridge: str, tokens: TokenFactory
):
    ws = await started(bridge, tokens.mint(subject="users/vic", ttl=2))
    assert (await chunk_answered(ws))["type"] == "response"
    began = time.monotonic()
    code, reason = await closed(ws)
    assert code == 1008
    assert reason.startswith("token_expired: ")
    assert time.monotonic() - began < 4


@pytest.mark.parametrize(
    "fresh",
    [
        pytest.param(lambda t: t.mint(subject="users/someone-else"), id="another caller's"),
        pytest.param(lambda t: t.mint(subject="users/wes", ttl=-60), id="expired"),
        pytest.param(
            lambda t: t.mint(subject="users/wes", key=Ed25519PrivateKey.generate()), id="forged"
        ),
        pytest.param(lambda t: "vk_0123456789abcdef", id="an API key"),
    ],
)
async def test_a_fresh_token_the_bridge_cannot_trust_closes_the_session(
    bridge: str, tokens: TokenFactory, fresh: Any
):
    ws = await started(bridge, tokens.mint(subject="users/wes"))
    assert (await chunk_answered(ws))["type"] == "response"
    await ws.send(json.dumps({"type": "token", "token": fresh(tokens)}))
    code, reason = await closed(ws)
    assert code == 1008
    assert reason.startswith("token_refused: ")


async def test_a_token_frame_without_a_token_is_refused(bridge: str, tokens: TokenFactory):
    ws = await started(bridge, tokens.mint(subject="users/xia"))
    await ws.send(json.dumps({"type": "token"}))
    assert (await closed(ws))[0] == 1008
