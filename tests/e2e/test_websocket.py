"""Real-time voice over WebSocket (docs/websocket.md), outside the browser: sockets through Envoy
to the mesh's bridge and on to the real speech and assistant services, speech made by the
service's own Piper voice.

The bounds that take time to reach (idle, session length, keepalive, the session cap, the audio
rate) are checked on a second bridge with small bounds, beside the mesh's and talking to the
same services."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.frames import Close
from websockets.uri import parse_uri

from tests.e2e.conftest import sign_in
from tests.gateway.ws import bridge_process, closed
from tests.services.speech.wer import wer
from tools.mesh import Mesh
from voka import registry

pytestmark = pytest.mark.integration
TEXT = "Please send the quarterly report to the finance team before Friday."
QUESTION = "What is the capital of France?"
VOICE = "voices/piper-en-us-joe-medium"
CHUNK = 16_000
SILENCE = bytes(3200)  # 100 ms of 16 kHz PCM16
TIGHT = {
    "VOKA_WS_MAX_SESSIONS": "2",
    "VOKA_WS_IDLE_SECONDS": "3",
    "VOKA_WS_MAX_SESSION_SECONDS": "6",
    "VOKA_WS_PING_INTERVAL_SECONDS": "1",
    "VOKA_WS_PING_TIMEOUT_SECONDS": "1",
    "VOKA_WS_AUDIO_BYTES_PER_SECOND": "64000",
    "VOKA_WS_AUDIO_BURST_SECONDS": "1",
}


def spoken(rest: httpx.Client, text: str) -> bytes:
    reply = rest.post("/api/v1/tts/synthesize", headers=sign_in(rest),
                      json={"text": text, "voice": VOICE})  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.content[:4] == b"RIFF"
    return reply.content


@pytest.fixture(scope="module")
def token(rest: httpx.Client) -> str:
    return sign_in(rest)["authorization"]  # "Bearer ...": the bridge takes it either way


@pytest.fixture(scope="module")
def sockets(mesh: Mesh) -> str:
    """`ws://` Envoy's `/api/v1/ws/`."""
    return mesh.rest_url.replace("http://", "ws://", 1) + "/api/v1/ws/"


@dataclass
class Tight:
    url: str
    pid: int


@pytest.fixture(scope="module")
def tight(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tight]:
    """A bridge with small bounds (TIGHT), on the mesh's services."""
    addresses = json.dumps({d: mesh.service_address(d) for d in registry.names()})
    var = tmp_path_factory.mktemp("tight-bridge")
    with bridge_process(var, {**TIGHT, "VOKA_ADDRESSES": addresses}) as (address, proc):
        yield Tight(f"ws://{address}/api/v1/ws/", proc.pid)


def start(token: str, config: dict[str, Any]) -> str:
    return json.dumps({"type": "start", "token": token, "config": config})


@dataclass
class Received:
    """What a socket delivered: responses in order, each audio response with its bytes."""

    responses: list[dict[str, Any]] = field(default_factory=list)
    audio: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [next(iter(r)) for r in self.responses]


async def frames(ws: ClientConnection) -> AsyncIterator[dict[str, Any] | bytes]:
    async for message in ws:
        yield message if isinstance(message, bytes) else json.loads(message)


async def receive_until(ws: ClientConnection, kind: str, received: Received) -> None:
    """Collect responses (and the binary frame after each audio one) until one of `kind`."""
    pending_audio: dict[str, Any] | None = None
    async for frame in frames(ws):
        if isinstance(frame, bytes):
            assert pending_audio is not None, "a binary frame without an audio response"
            received.audio.append((pending_audio, frame))
            pending_audio = None
            continue
        assert frame["type"] == "response", frame
        received.responses.append(frame["response"])
        if "audio" in frame["response"]:
            pending_audio = frame["response"]["audio"]
        elif kind in frame["response"]:
            return


async def test_recognize_streams_a_piper_wav_to_its_final_transcript(
    rest: httpx.Client, sockets: str, token: str
):
    wav = spoken(rest, TEXT)
    config = {"config": {"language": "en"}, "encoding": "AUDIO_ENCODING_WAV"}
    async with asyncio.timeout(120), connect(sockets + "recognize") as ws:
        await ws.send(start(token, config))
        for i in range(0, len(wav), CHUNK):
            await ws.send(wav[i : i + CHUNK])
        await ws.send(json.dumps({"type": "end"}))
        responses = [f["response"] async for f in frames(ws) if isinstance(f, dict)]
        assert (ws.close_code, ws.close_reason) == (1000, "done: the stream ended")
    results = [r["result"] for r in responses if "result" in r]
    assert "SPEECH_EVENT_SPEECH_ENDED" in [r["speechEvent"] for r in responses]
    finals = " ".join(r["text"] for r in results if r["isFinal"])
    assert wer(TEXT, finals) <= 0.1, responses


async def test_voice_chat_transcript_reply_text_and_reply_audio(
    rest: httpx.Client, sockets: str, token: str
):
    wav = spoken(rest, QUESTION)
    config = {
        "language": "en",
        "inputEncoding": "AUDIO_ENCODING_WAV",
        "outputEncoding": "AUDIO_ENCODING_WAV",
        "sampling": {"maxOutputTokens": 12},
    }
    received = Received()
    async with asyncio.timeout(240), connect(sockets + "voice-chat") as ws:
        await ws.send(start(token, config))
        for i in range(0, len(wav), CHUNK):
            await ws.send(wav[i : i + CHUNK])
        await ws.send(json.dumps({"type": "end_of_utterance"}))
        await receive_until(ws, "replyCompleted", received)
        await ws.send(json.dumps({"type": "end"}))
        assert await closed(ws) == (1000, "done: the stream ended")
    kinds = received.kinds()
    assert "error" not in kinds, received.responses
    assert kinds[0] == "started"
    transcript = received.responses[kinds.index("transcript")]["transcript"]
    assert transcript["isFinal"]
    assert "capital of france" in transcript["text"].lower()
    assert kinds.index("transcript") < kinds.index("replyStarted") < kinds.index("replyDelta")
    assert received.audio, "no reply audio"
    first, data = received.audio[0]
    assert "data" not in first  # the bytes came as the binary frame instead
    assert first["encoding"] == "AUDIO_ENCODING_WAV"
    assert data[:4] == b"RIFF"
    assert received.audio[-1][0]["last"]


@pytest.mark.parametrize("endpoint", ["voice-chat", "recognize"])
async def test_a_bad_token_is_1008_after_the_services_refusal(sockets: str, endpoint: str):
    async with asyncio.timeout(30), connect(sockets + endpoint) as ws:
        await ws.send(start("Bearer not.a.token", {}))
        error = json.loads(await ws.recv())
        code, reason = await closed(ws)
    assert error["type"] == "error"
    assert error["error"]["code"] == "UNAUTHENTICATED"
    assert code == 1008
    assert reason.startswith("UNAUTHENTICATED:")


async def test_an_oversized_frame_through_envoy_is_1009(sockets: str, token: str):
    async with asyncio.timeout(30), connect(sockets + "recognize", max_size=None) as ws:
        await ws.send(start(token, {}))
        await ws.send(bytes(200 * 1024))
        code, reason = await closed(ws)
    assert code == 1009
    assert re.match(r"frame with \d+ bytes exceeds limit of 131072 bytes", reason), reason


# --- bounds, on the tight bridge ------------------------------------------------------------


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


async def test_a_client_that_never_reads_is_closed_and_memory_stays_bounded(
    tight: Tight, token: str
):
    """A raw client: past the upgrade it sends a start and audio and reads nothing, not even
    the bridge's pings; the bridge closes it after ping interval + timeout (1 s + 1 s), and its
    memory stays put."""
    before = rss_kib(tight.pid)
    uri = parse_uri(tight.url + "recognize")
    client = ClientProtocol(uri)
    client.send_request(client.connect())
    reader, writer = await asyncio.open_connection(uri.host, uri.port)
    writer.write(b"".join(client.data_to_send()))
    client.receive_data(await reader.readuntil(b"\r\n\r\n"))  # the 101, and no more reading
    assert client.handshake_exc is None
    client.send_text(start(token, {"interimResults": True}).encode())
    began = time.monotonic()
    while time.monotonic() - began < 3:  # 32 KB/s of silence, under the rate bound
        client.send_binary(SILENCE)
        writer.write(b"".join(client.data_to_send()))
        await writer.drain()
        await asyncio.sleep(0.1)
    async with asyncio.timeout(15):
        everything = await reader.read()  # only now: all the bridge sent, up to its close
    # ping interval + ping timeout, then at most the close timeout (5 s) for a closing handshake
    # the client never answers
    assert time.monotonic() - began < 1 + 1 + 5 + 2
    writer.close()
    client.receive_data(everything)
    client.receive_eof()
    client.events_received()
    assert isinstance(client.close_rcvd, Close)
    assert (client.close_rcvd.code, client.close_rcvd.reason) == (1011, "keepalive ping timeout")
    assert rss_kib(tight.pid) - before < 20 * 1024


async def test_a_silent_session_is_closed_for_idleness(tight: Tight, token: str):
    async with asyncio.timeout(20), connect(tight.url + "recognize") as ws:
        await ws.send(start(token, {}))
        began = time.monotonic()
        code, reason = await closed(ws)
    assert (code, reason) == (1008, "idle_timeout: nothing sent or received for 3 s")
    assert 2.5 < time.monotonic() - began < 8


async def test_a_session_past_its_length_is_closed(tight: Tight, token: str):
    async with asyncio.timeout(30), connect(tight.url + "recognize") as ws:
        await ws.send(start(token, {}))
        with_audio = asyncio.create_task(_keep_talking(ws))
        code, reason = await closed(ws)
        with_audio.cancel()
    assert (code, reason) == (1008, "session_too_long: sessions last at most 6 s")


async def _keep_talking(ws: ClientConnection) -> None:
    while True:
        await ws.send(SILENCE)
        await asyncio.sleep(0.25)


async def test_audio_faster_than_the_rate_bound_is_refused(tight: Tight, token: str):
    async with asyncio.timeout(30), connect(tight.url + "recognize") as ws:
        await ws.send(start(token, {}))
        for _ in range(3):
            await ws.send(bytes(60_000))  # 180 KB at once; the bound is 64 KB/s, 1 s of burst
        code, reason = await closed(ws)
    assert (code, reason) == (1008, "audio_rate: audio faster than 64000 bytes/s")


async def test_sessions_past_the_cap_are_refused_with_1013(tight: Tight, token: str):
    async with asyncio.timeout(30):
        async with (
            connect(tight.url + "recognize") as one,
            connect(tight.url + "voice-chat") as two,
        ):
            await one.send(start(token, {}))
            await two.send(start(token, {}))
            async with connect(tight.url + "recognize") as three:
                code, reason = await closed(three)
    assert (code, reason) == (1013, "try_again_later: this bridge already holds its 2 sessions")
