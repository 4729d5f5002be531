"""The remote providers against a small real HTTP server speaking each protocol (the Hugging
Face Inference API, OpenAI's chat completions, Anthropic's Messages): what they answer reaches
the analysis and names its engine; a provider that is down is UNAVAILABLE naming it, after its
retries; its breaker opens (calls refused at once, nothing sent) and closes again once a trial
call succeeds."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.fixtures.tokens import TokenFactory
from tests.services.vision.conftest import (
    User,
    body,
    coffee_photo,
    failure,
    hand_photo,
    start_vision,
    vision_settings,
)
from voka.vision.v1 import vision_pb2, vision_pb2_grpc

pytestmark = pytest.mark.integration
RESET_SECONDS = 0.6


@dataclass
class Provider:
    """What the fake providers received, and whether they answer (503 when `down`)."""

    down: bool = False
    requests: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


def _answer(path: str, data: bytes) -> Any:
    if path == "/hf/models/acme/detr":
        return [{"label": "cup", "score": 0.93, "box": {"xmin": 60, "ymin": 40, "xmax": 360,
                                                        "ymax": 340}}]  # fmt: skip
    if path == "/hf/models/acme/asl":
        return [{"label": "B", "score": 0.61}, {"label": "A", "score": 0.2}]
    if path == "/hf/models/acme/blip":
        return [{"generated_text": "a cup of coffee on a saucer"}]
    if path == "/openai/chat/completions":
        request = json.loads(data)
        assert request["messages"][0]["content"][1]["image_url"]["url"].startswith(
            "data:image/png;base64,")  # fmt: skip
        return {"choices": [{"message": {"role": "assistant", "content": "Espresso in a cup."}}]}
    if path == "/anthropic/v1/messages":
        request = json.loads(data)
        assert request["messages"][0]["content"][0]["source"]["media_type"] == "image/png"
        return {"content": [{"type": "text", "text": "A coffee cup seen from above."}]}
    return None


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[Provider, str]]:
    """The fake providers on a free port; their state and base URL."""
    state = Provider()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.requests.append((self.path, dict(self.headers), data))
            answer = None if state.down else _answer(self.path, data)
            status = 503 if state.down else 200 if answer is not None else 404
            payload = json.dumps(answer if answer is not None else {"error": "down"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


async def _user(tokens: TokenFactory, data: Path, **extra: Any) -> AsyncIterator[User]:
    running = await start_vision(vision_settings(tokens, data, **extra))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield User(vision_pb2_grpc.VisionServiceStub(channel), tokens.metadata())
    await running.stop()


def remote(base: str) -> dict[str, Any]:
    return {
        "vision_hf_base_url": f"{base}/hf", "vision_hf_token": "hf_test",
        "vision_hf_image_model": "acme/detr", "vision_hf_sign_model": "acme/asl",
        "vision_openai_base_url": f"{base}/openai", "vision_openai_model": "gpt-vision",
        "vision_openai_api_key": "sk-test",
        "vision_anthropic_base_url": f"{base}/anthropic", "vision_anthropic_model": "claude",
        "vision_anthropic_api_key": "ak-test",
        "vision_provider_retries": 1, "vision_provider_backoff_seconds": 0.05,
        "vision_breaker_failures": 2, "vision_breaker_reset_seconds": RESET_SECONDS,
    }  # fmt: skip


async def analyze(user: User) -> vision_pb2.Analysis:
    request = vision_pb2.AnalyzeImageRequest(body=body(coffee_photo()))
    analysis: vision_pb2.Analysis = (await user.AnalyzeImage(request)).analysis
    return analysis


@pytest.mark.parametrize(
    ("captions", "text", "engine"),
    [
        ("huggingface", "a cup of coffee on a saucer", "huggingface/acme/blip"),
        ("openai", "Espresso in a cup.", "openai/gpt-vision"),
        ("anthropic", "A coffee cup seen from above.", "anthropic/claude"),
    ],
)
async def test_providers_answer_through_their_protocols(
    provider: tuple[Provider, str], tokens: TokenFactory, tmp_path: Path, captions: str,
    text: str, engine: str,
) -> None:  # fmt: skip
    state, base = provider
    state.down = False
    settings = remote(base) | {"vision_caption_provider": captions,
                               "vision_hf_caption_model": "acme/blip"}  # fmt: skip
    async for user in _user(tokens, tmp_path, **settings):
        state.requests.clear()
        analysis = await analyze(user)
        assert (analysis.caption.text, analysis.caption.engine) == (text, engine)
        assert analysis.object_engine == "huggingface/acme/detr"
        (cup,) = analysis.objects
        assert cup.label == "cup"
        assert cup.score == pytest.approx(0.93)
        assert cup.box.left == pytest.approx(0.1)
        assert cup.box.width == pytest.approx(0.5)
        path, headers, data = state.requests[0]
        assert path == "/hf/models/acme/detr"
        assert data == coffee_photo()
        assert headers["Authorization"] == "Bearer hf_test"

        hands = await user.DetectHands(vision_pb2.DetectHandsRequest(body=body(hand_photo())))
        (hand,) = hands.analysis.hands
        assert (hand.gesture, len(hand.landmarks)) == ("B", 21)  # the sign model's label
        assert hands.analysis.hand_engine.endswith("+huggingface/acme/asl")
        assert state.requests[-1][2].startswith(b"\x89PNG")  # the hand's crop


async def test_a_provider_down_is_unavailable_and_its_breaker_opens_and_closes(
    provider: tuple[Provider, str], tokens: TokenFactory, tmp_path: Path
) -> None:
    state, base = provider
    async for user in _user(tokens, tmp_path, **remote(base)):
        state.down = True
        for _ in range(2):  # two failures in a row (each after its retry) open the breaker
            state.requests.clear()
            details = await failure(analyze(user), grpc.StatusCode.UNAVAILABLE)
            assert "the huggingface provider is unavailable: HTTP 503" in details
            assert len(state.requests) == 2  # the call and its retry

        state.requests.clear()
        started = time.monotonic()
        details = await failure(analyze(user), grpc.StatusCode.UNAVAILABLE)
        assert "huggingface" in details
        assert "circuit is open" in details
        assert not state.requests  # refused at once, nothing sent
        assert time.monotonic() - started < 1

        state.down = False
        await asyncio.sleep(RESET_SECONDS + 0.1)  # half open: one trial call goes out
        assert (await analyze(user)).objects[0].label == "cup"
        assert (await analyze(user)).objects[0].label == "cup"  # closed again
        assert len(state.requests) == 2


async def test_an_unreachable_provider_is_unavailable_naming_it(
    tokens: TokenFactory, tmp_path: Path
) -> None:
    closed = remote("http://127.0.0.1:9") | {"vision_provider_retries": 0}  # discard: refused
    async for user in _user(tokens, tmp_path, **closed):
        details = await failure(analyze(user), grpc.StatusCode.UNAVAILABLE)
        assert "the huggingface provider is unavailable: ConnectError" in details
