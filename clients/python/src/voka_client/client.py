"""`Client`: one channel to the edge, the caller's credentials, and a helper per domain."""

from __future__ import annotations

import os
from collections.abc import Callable
from types import TracebackType

import grpc

from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka_client.assistant import Assistant
from voka_client.channel import DEFAULT_URL, open_channel
from voka_client.credentials import AUTH_TIMEOUT_S, ApiKey, Credentials, Session, Tokens
from voka_client.interceptor import CallDefaults, Deadlines
from voka_client.meetings import Meetings
from voka_client.speech import Speech
from voka_client.tasks import Tasks
from voka_client.translate import Translate
from voka_client.vision import Vision

URL_ENV = "VOKA_URL"
API_KEY_ENV = "VOKA_API_KEY"


class Client:
    """A Voka client over gRPC, through the edge (Envoy) at `url` (`http://host:port`,
    `https://host` or `host:port`).

    Credentials, one of: `api_key` (sent as `x-api-key`); `username` and `password` (logged in
    on the first call, tokens refreshed before they expire, logged in again if the session
    ends); `tokens` of an earlier login (refreshed likewise; `on_tokens` hears each new pair, to
    keep them). None: only public calls work, until `login`.

    Every call retries on UNAVAILABLE with exponential backoff (channel.py) and has a deadline:
    `deadlines.unary` seconds for calls with one answer, `deadlines.stream` for streams, unless
    the call passes its own `timeout`. The domain helpers (`translate`, `speech`, `assistant`,
    `tasks`, `meetings`, `vision`) each keep their generated stub as `.stub` for everything else."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        *,
        api_key: str = "",
        username: str = "",
        password: str = "",
        tokens: Tokens | None = None,
        on_tokens: Callable[[Tokens], None] | None = None,
        deadlines: Deadlines | None = None,
    ) -> None:
        if api_key and (username or password or tokens is not None):
            raise ValueError("give an API key or a login (username and password, or tokens)")
        self._raw = open_channel(url)
        self._auth = auth_pb2_grpc.AuthServiceStub(self._raw)
        self._on_tokens = on_tokens
        self.credentials: Credentials | None = None
        if api_key:
            self.credentials = ApiKey(api_key)
        elif tokens is not None or username or password:
            self.credentials = Session(
                self._auth, tokens, username=username, password=password, on_change=on_tokens
            )
        defaults = CallDefaults(lambda: self.credentials, deadlines or Deadlines())
        self.channel = grpc.intercept_channel(self._raw, defaults)
        self.auth = auth_pb2_grpc.AuthServiceStub(self.channel)
        self.translate = Translate(self.channel)
        self.speech = Speech(self.channel)
        self.assistant = Assistant(self.channel)
        self.tasks = Tasks(self.channel)
        self.meetings = Meetings(self.channel)
        self.vision = Vision(self.channel)

    @classmethod
    def from_env(cls, deadlines: Deadlines | None = None) -> Client:
        """A client for `$VOKA_URL` (default the local mesh) with `$VOKA_API_KEY` if set."""
        return cls(
            os.environ.get(URL_ENV, DEFAULT_URL),
            api_key=os.environ.get(API_KEY_ENV, ""),
            deadlines=deadlines,
        )

    def login(self, username: str, password: str) -> Tokens:
        """Opens a session (Login) and signs the following calls with it; answers its tokens,
        which `Client(tokens=...)` resumes later without the password."""
        session = Session(
            self._auth, username=username, password=password, on_change=self._on_tokens
        )
        tokens = session.tokens
        # The session goes on from its tokens alone: the password is not kept.
        self.credentials = Session(self._auth, tokens, on_change=self._on_tokens)
        return tokens

    def logout(self, *, all_sessions: bool = False) -> int:
        """Ends the session (its refresh-token family and access tokens are revoked) and
        answers how many sessions ended; later calls go unsigned."""
        refresh = ""
        if isinstance(self.credentials, Session):
            refresh = self.credentials.tokens.refresh_token
        request = auth_pb2.LogoutRequest(refresh_token=refresh, all_sessions=all_sessions)
        reply = self.auth.Logout(request, timeout=AUTH_TIMEOUT_S)
        self.credentials = None
        return reply.revoked_session_count

    def whoami(self) -> auth_pb2.User:
        """The caller's account (`users/me`)."""
        return self.auth.GetUser(auth_pb2.GetUserRequest(name="users/me")).user

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
