"""voka_client against a real in-process gRPC server whose servicers script the answers a
client must cope with: UNAVAILABLE a few times, tokens that expire or get revoked, pages.
Through the mesh and Envoy: tests/e2e/test_cli.py."""

from __future__ import annotations

import stat
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import status_pb2

from voka.assistant.v1 import assistant_pb2
from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka.translate.v1 import translate_pb2, translate_pb2_grpc
from voka_client import ApiKey, Client, Deadlines, Reply, ReplyFailedError, Tokens
from voka_client.assistant import sse_event
from voka_client.channel import RETRY_ATTEMPTS, Target, parse_target
from voka_client.cli import config

HISTORY = [f"translations/{n}" for n in range(5)]
PAGE = 2


@dataclass
class Script:
    """What the servicers answer, and what they saw."""

    unavailable: int = 0  # TranslateText answers UNAVAILABLE this many times first
    refuse: set[str] = field(default_factory=set)  # access tokens refused as revoked
    expires_in_s: int = 3600  # lifetime of the tokens Login gives
    translate_calls: int = 0
    pages_served: int = 0
    logins: int = 0
    refreshes: list[str] = field(default_factory=list)  # refresh tokens presented
    seen: list[dict[str, str]] = field(default_factory=list)  # TranslateText's metadata
    time_left: list[float] = field(default_factory=list)  # TranslateText's deadline
    lock: threading.Lock = field(default_factory=threading.Lock)


class Auth(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    def Login(self, request: auth_pb2.LoginRequest, context: grpc.ServicerContext):
        if request.password != "right":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong username or password")
        self.script.logins += 1
        return auth_pb2.LoginResponse(
            access_token="access-1",
            refresh_token="refresh-1",
            expires_in=duration_pb2.Duration(seconds=self.script.expires_in_s),
            session="users/ada/sessions/1",
        )

    def RefreshToken(self, request: auth_pb2.RefreshTokenRequest, context: grpc.ServicerContext):
        self.script.refreshes.append(request.refresh_token)
        number = len(self.script.refreshes) + 1
        return auth_pb2.RefreshTokenResponse(
            access_token=f"access-{number}",
            refresh_token=f"refresh-{number}",
            expires_in=duration_pb2.Duration(seconds=3600),
            session="users/ada/sessions/1",
        )


class Translate(translate_pb2_grpc.TranslateServiceServicer):
    def __init__(self, script: Script) -> None:
        self.script = script

    def TranslateText(self, request: translate_pb2.TranslateTextRequest, context):
        script = self.script
        with script.lock:
            script.translate_calls += 1
            script.seen.append(dict(context.invocation_metadata()))
            script.time_left.append(context.time_remaining())
            if script.unavailable:
                script.unavailable -= 1
                context.abort(grpc.StatusCode.UNAVAILABLE, "no healthy upstream")
        if request.text == "bad":
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "text: say something")
        token = dict(context.invocation_metadata()).get("authorization", "")
        if token.removeprefix("Bearer ") in script.refuse:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "Jwt is revoked")
        return translate_pb2.TranslateTextResponse(translated_text=request.text[::-1])

    def ListTranslations(self, request: translate_pb2.ListTranslationsRequest, context):
        self.script.pages_served += 1
        start = int(request.page_token or 0)
        end = start + PAGE
        return translate_pb2.ListTranslationsResponse(
            translations=[translate_pb2.Translation(name=n) for n in HISTORY[start:end]],
            next_page_token=str(end) if end < len(HISTORY) else "",
        )


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def url(script: Script) -> Iterator[str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(Auth(script), server)
    translate_pb2_grpc.add_TranslateServiceServicer_to_server(Translate(script), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop(grace=None)


def test_unavailable_is_retried_by_the_channel(url: str, script: Script):
    script.unavailable = 2
    with Client(url) as client:
        assert client.translate.text("hola", "en").translated_text == "aloh"
    assert script.translate_calls == 3


def test_retries_stop_after_the_policy_s_attempts(url: str, script: Script):
    script.unavailable = 100
    with Client(url) as client, pytest.raises(grpc.RpcError) as failed:
        client.translate.text("hola", "en")
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert script.translate_calls == RETRY_ATTEMPTS


def test_other_errors_are_not_retried(url: str, script: Script):
    with Client(url) as client, pytest.raises(grpc.RpcError) as failed:
        client.translate.text("bad", "en")
    assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert failed.value.details() == "text: say something"
    assert script.translate_calls == 1


def test_api_key_goes_as_x_api_key(url: str, script: Script):
    with Client(url, api_key="vk_secret") as client:
        client.translate.text("hola", "en")
    assert script.seen[0]["x-api-key"] == "vk_secret"
    assert "authorization" not in script.seen[0]
    assert ApiKey("vk_secret").renew() is False


def test_every_call_gets_the_default_deadline_or_its_own(url: str, script: Script):
    with Client(url, deadlines=Deadlines(unary=5)) as client:
        client.translate.text("hola", "en")
        client.translate.stub.TranslateText(
            translate_pb2.TranslateTextRequest(text="hola", target_language_code="en"),
            timeout=20,
        )
    # The server's clock reads the deadline a hair late: a little over is still that deadline.
    assert 3 < script.time_left[0] < 5.5
    assert 15 < script.time_left[1] < 20.5


def test_password_login_then_refresh_before_expiry(url: str, script: Script):
    script.expires_in_s = 30  # inside the refresh leeway: the next call refreshes first
    kept: list[Tokens] = []
    with Client(url, username="ada", password="right", on_tokens=kept.append) as client:
        client.translate.text("uno", "en")
        client.translate.text("dos", "en")
    assert script.logins == 1
    assert script.refreshes == ["refresh-1"]
    bearers = [seen["authorization"] for seen in script.seen]
    assert bearers == ["Bearer access-1", "Bearer access-2"]
    assert [t.refresh_token for t in kept] == ["refresh-1", "refresh-2"]


def test_refused_token_is_renewed_and_the_call_replayed_once(url: str, script: Script):
    script.refuse = {"access-1"}
    tokens = Tokens("access-1", "refresh-1", access_expire_time=4e9)
    with Client(url, tokens=tokens) as client:
        assert client.translate.text("hola", "en").translated_text == "aloh"
    assert script.refreshes == ["refresh-1"]
    assert script.translate_calls == 2


def test_wrong_password_fails_the_call_as_unauthenticated(url: str):
    client = Client(url, username="ada", password="wrong")
    with client, pytest.raises(grpc.RpcError) as failed:
        client.translate.text("hola", "en")
    assert failed.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_pages_are_fetched_as_the_caller_gets_to_them(url: str, script: Script):
    with Client(url) as client:
        assert [t.name for t in islice(client.translate.iter_translations(), 1)] == HISTORY[:1]
        assert script.pages_served == 1
        assert [t.name for t in client.translate.iter_translations()] == HISTORY
    assert script.pages_served == 1 + 3


def test_reply_yields_text_and_keeps_start_and_end():
    events = [
        assistant_pb2.StreamReplyResponse(
            started=assistant_pb2.ReplyStarted(conversation="conversations/1")
        ),
        assistant_pb2.StreamReplyResponse(delta=assistant_pb2.TextDelta(text="Hel")),
        assistant_pb2.StreamReplyResponse(delta=assistant_pb2.TextDelta(text="lo")),
        assistant_pb2.StreamReplyResponse(
            completed=assistant_pb2.ReplyCompleted(text="Hello", model="local/smol")
        ),
    ]
    reply = Reply(events)
    assert list(reply) == ["Hel", "lo"]
    assert reply.conversation == "conversations/1"
    assert reply.completed is not None
    assert reply.completed.model == "local/smol"
    gone = status_pb2.Status(code=grpc.StatusCode.UNAVAILABLE.value[0], message="provider gone")
    failing = [events[0], assistant_pb2.StreamReplyResponse(error=gone)]
    with pytest.raises(ReplyFailedError, match="provider gone"):
        Reply(failing).text()


def test_watch_frames_become_events_and_keepalives_are_passed_over():
    assert sse_event(b"retry: 3000\n\n") is None
    assert sse_event(b": keepalive\n\n") is None
    assert sse_event(b'event: deleted\ndata: {"name":"conversations/1"}\n\n') == (
        "deleted",
        {"name": "conversations/1"},
    )


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("http://127.0.0.1:8080", Target("127.0.0.1:8080", secure=False)),
        ("localhost:8080", Target("localhost:8080", secure=False)),
        ("https://voka.example.com", Target("voka.example.com:443", secure=True)),
        ("https://[::1]:8443/", Target("[::1]:8443", secure=True)),
    ],
)
def test_urls_become_grpc_targets(url: str, target: Target):
    assert parse_target(url) == target


@pytest.mark.parametrize("url", ["", "ftp://host", "http://"])
def test_bad_urls_are_refused(url: str):
    with pytest.raises(ValueError, match="server address"):
        parse_target(url)


def test_saved_login_is_readable_by_its_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.load() is None
    saved = config.Saved("http://127.0.0.1:8080", "ada", Tokens("a", "r", 1.5, "s"))
    path = config.save(saved)
    assert path == tmp_path / "voka" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert config.load() == saved
    assert config.forget() is True
    assert config.load() is None
