"""The assistant ("Vicky") through Envoy's REST mapping, as `make up` runs it: the embedded
SmolLM2 answers (loaded on the first reply, so the shared mesh starts cheap), replies stream as
Server-Sent Events token by token, a user's devices follow their conversations live (SSE), and a
user never reaches another user's conversation."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.integration
FEW_TOKENS = {"maxOutputTokens": 8}
WATCH = "/api/v1/conversations:watch"
Event = tuple[str, Any]


def test_vicky_process_answers_and_keeps_the_conversation(rest: httpx.Client) -> None:
    headers = sign_in(rest)
    reply = rest.post(
        "/api/v1/vicky/process",
        json={"message": "Hello!", "context": {"level": "beginner"}, "sampling": FEW_TOKENS},
        headers=headers,
        timeout=120,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["conversationCreated"] is True
    assert body["reply"]["role"] == "MESSAGE_ROLE_ASSISTANT"
    assert body["reply"]["content"]
    assert int(body["reply"]["usage"]["outputTokens"]) <= 8
    conversation = rest.get(f"/api/v1/{body['conversation']}", headers=headers, timeout=10)
    assert conversation.status_code == 200
    contents = [m.get("content", "") for m in conversation.json()["conversation"]["messages"]]
    assert contents == ["Hello!", body["reply"]["content"]]
    stranger = rest.get(f"/api/v1/{body['conversation']}", headers=sign_in(rest), timeout=10)
    assert stranger.status_code == 404


def test_chat_stream_arrives_token_by_token_as_sse(rest: httpx.Client) -> None:
    headers = sign_in(rest)
    arrivals: list[tuple[float, dict[str, Any]]] = []
    start = time.monotonic()
    request = {"message": "Tell me about the sea.", "sampling": {"maxOutputTokens": 40}}
    with rest.stream("POST", "/api/v1/chat/stream", json=request, headers=headers,
                     timeout=120) as reply:  # fmt: skip
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("data:"):
                arrivals.append((time.monotonic() - start, json.loads(line[5:])))
    kinds = [next(iter(event)) for _, event in arrivals]
    assert kinds[0] == "started"
    assert kinds[-1] == "completed"
    deltas = [t for (t, event) in arrivals if "delta" in event]
    assert len(deltas) >= 10
    # Unbuffered: the first token is read well before the last one was generated.
    assert deltas[-1] - deltas[0] >= 0.2
    assert deltas[0] < arrivals[-1][0] - 0.2
    text = "".join(event["delta"]["text"] for _, event in arrivals if "delta" in event)
    assert arrivals[-1][1]["completed"]["text"] == text


def test_models_status_and_hemisphere(rest: httpx.Client) -> None:
    models = rest.get("/api/v1/chat/models", timeout=10)
    assert models.status_code == 200
    listed = models.json()
    assert listed["models"][0]["id"] == listed["defaultModel"]
    assert listed["models"][0]["providerKind"] == "PROVIDER_KIND_LOCAL"
    headers = sign_in(rest)
    balance = {"balance": {"technical": 0.25, "emotional": 0.75}}
    put = rest.post("/api/v1/vicky/hemisphere", json=balance, headers=headers, timeout=10)
    assert put.status_code == 200, put.text
    got = rest.get("/api/v1/vicky/hemisphere", headers=headers, timeout=10).json()
    assert got["source"] == "HEMISPHERE_SOURCE_USER"
    assert got["balance"]["emotional"] == 0.75
    status = rest.get("/api/v1/vicky/status", headers=headers, timeout=10)
    assert status.status_code == 200
    body = status.json()
    assert body["activeModel"] == listed["defaultModel"]
    assert body["hemisphere"]["technical"] == 0.25
    assert body["providers"][0]["provider"] == "local"
    bad = {"balance": {"technical": 0.9, "emotional": 0.9}}
    refused = rest.post("/api/v1/vicky/hemisphere", json=bad, headers=headers, timeout=10)
    assert refused.status_code == 400
    fields = [v["field"] for d in refused.json()["details"] for v in d.get("fieldViolations", [])]
    assert fields == ["balance"]


def test_without_a_token_is_401(rest: httpx.Client) -> None:
    for method, path in (
        ("POST", "/api/v1/vicky/process"),
        ("GET", "/api/v1/vicky/status"),
        ("POST", "/api/v1/chat/stream"),
        ("GET", "/api/v1/conversations"),
    ):
        reply = rest.request(method, path, json={"message": "hi"} if method == "POST" else None)
        assert reply.status_code == 401, (path, reply.text)


def sse_events(reply: httpx.Response) -> Iterator[Event]:
    """The (event, data) pairs of a text/event-stream, comments and `retry:` passed over."""
    kind = ""
    for line in reply.iter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield kind, json.loads(line.removeprefix("data: "))


def read_until(feed: Iterator[Event], last: Callable[[Event], bool]) -> list[Event]:
    """The feed's events up to and with the first that is `last`."""
    seen = []
    for event in feed:
        seen.append(event)
        if last(event):
            return seen
    raise AssertionError(f"the stream ended after {seen}")


def test_two_devices_follow_a_users_conversations_live_through_envoy(rest: httpx.Client) -> None:
    """WatchConversations' HttpBody frames, written by Envoy as text/event-stream: two streams
    of one user see a conversation created, its messages, a rename and the deletion; the
    stream past the cap per caller (4) is 429."""
    headers = sign_in(rest)
    with contextlib.ExitStack() as held:
        devices = [held.enter_context(rest.stream("GET", WATCH, headers=headers, timeout=120))
                   for _ in range(2)]  # fmt: skip
        for device in devices:
            assert device.status_code == 200
            assert device.headers["content-type"].startswith("text/event-stream")
        feeds = [sse_events(device) for device in devices]
        for feed in feeds:
            assert next(feed) == ("ready", {"conversations": 0})

        created = rest.post("/api/v1/conversations", json={"displayName": "Trip"}, headers=headers)
        name = created.json()["conversation"]["name"]
        asked = {"message": "Hello!", "conversation": name, "sampling": FEW_TOKENS}
        reply = rest.post("/api/v1/vicky/process", json=asked, headers=headers, timeout=120)
        assert reply.status_code == 200, reply.text
        answer = reply.json()["reply"]["content"]
        for feed in feeds:
            said: list[str] = []
            for kind, data in read_until(feed, lambda e: answer in _contents(e)):
                if kind == "conversation":
                    assert data["conversation"]["displayName"] == "Trip"
                said += _contents((kind, data))
            assert said == ["Hello!", answer]

        renamed = rest.patch(f"/api/v1/{name}", json={"displayName": "Trip to Lisbon"},
                             headers=headers)  # fmt: skip
        assert renamed.status_code == 200, renamed.text
        for feed in feeds:
            seen = read_until(feed, lambda e: _title(e) == "Trip to Lisbon")
            assert seen[-1][1]["conversation"]["name"] == name

        assert rest.delete(f"/api/v1/{name}", headers=headers).status_code == 200
        for feed in feeds:
            assert read_until(feed, lambda e: e[0] == "deleted")[-1] == ("deleted", {"name": name})

        for _ in range(2):
            held.enter_context(rest.stream("GET", WATCH, headers=headers, timeout=120))
        refused = rest.get(WATCH, headers=headers)
        assert refused.status_code == 429, refused.text
        assert "conversation streams" in refused.json()["message"]


def _contents(event: Event) -> list[str]:
    kind, data = event
    return [m.get("content", "") for m in data["messages"]] if kind == "messages" else []


def _title(event: Event) -> str:
    kind, data = event
    return data["conversation"]["displayName"] if kind == "conversation" else ""
