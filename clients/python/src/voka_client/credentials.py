"""What a call is signed with: an API key, or the bearer tokens of a login session, which are
refreshed before they run out (and once more when the edge refuses them anyway)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

import grpc

from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka_client.errors import SessionEndedError, status_of

API_KEY_HEADER: Final = "x-api-key"
# Refresh this long before the access token expires, so a call never leaves with a token that
# dies on the way (clock skew, a slow edge).
REFRESH_LEEWAY_S: Final = 60.0
# Login and refresh are small; a slow password hash on a busy server still fits.
AUTH_TIMEOUT_S: Final = 30.0

Metadata = list[tuple[str, str]]


class Credentials(Protocol):
    """Signs calls: metadata for each one, and a second chance after UNAUTHENTICATED."""

    def metadata(self) -> Metadata:
        """The headers to send with the next call."""
        ...

    def renew(self) -> bool:
        """Gets fresh credentials after the server refused these; False when there are none
        to get (an API key is what it is)."""
        ...


@dataclass(frozen=True)
class ApiKey:
    """A machine client's key (`vk_...`), sent as `x-api-key` on every call."""

    key: str

    def metadata(self) -> Metadata:
        return [(API_KEY_HEADER, self.key)]

    def renew(self) -> bool:
        return False


@dataclass(frozen=True)
class Tokens:
    """A login session's tokens. `access_expire_time` is in seconds since the epoch, by this
    machine's clock (computed from the server's `expires_in`, so clock skew does not matter)."""

    access_token: str
    refresh_token: str
    access_expire_time: float
    session: str = ""

    @classmethod
    def from_reply(
        cls, reply: auth_pb2.LoginResponse | auth_pb2.RefreshTokenResponse, now: float
    ) -> Tokens:
        return cls(
            access_token=reply.access_token,
            refresh_token=reply.refresh_token,
            access_expire_time=now + reply.expires_in.ToTimedelta().total_seconds(),
            session=reply.session,
        )


class Session:
    """Bearer tokens that renew themselves: refreshed (RefreshToken, which rotates the refresh
    token) shortly before the access token expires, or logged in again with the password when
    one was given and the refresh token is no longer accepted. `on_change` hears every new pair
    (the CLI saves them)."""

    def __init__(
        self,
        auth: auth_pb2_grpc.AuthServiceStub,
        tokens: Tokens | None = None,
        *,
        username: str = "",
        password: str = "",
        on_change: Callable[[Tokens], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if tokens is None and not (username and password):
            raise ValueError("a session needs tokens, or a username and a password")
        self._auth = auth
        self._tokens = tokens
        self._username = username
        self._password = password
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def tokens(self) -> Tokens:
        """The tokens now, logging in first if the session has none yet."""
        with self._lock:
            if self._tokens is None:
                self._login()
            assert self._tokens is not None
            return self._tokens

    def metadata(self) -> Metadata:
        with self._lock:
            if self._tokens is None:
                self._login()
            elif self._clock() + REFRESH_LEEWAY_S >= self._tokens.access_expire_time:
                self._refresh()
            assert self._tokens is not None
            return [("authorization", f"Bearer {self._tokens.access_token}")]

    def renew(self) -> bool:
        with self._lock:
            self._refresh()
            return True

    def _refresh(self) -> None:
        if self._tokens is None or not self._tokens.refresh_token:
            self._login()
            return
        request = auth_pb2.RefreshTokenRequest(refresh_token=self._tokens.refresh_token)
        try:
            reply = self._auth.RefreshToken(request, timeout=AUTH_TIMEOUT_S)
        except grpc.RpcError as error:
            # A used, revoked or expired refresh token: the session is over. With a password
            # at hand a new one opens; without, the caller has to log in.
            code, _ = status_of(error)
            if code != grpc.StatusCode.UNAUTHENTICATED or not self._password:
                raise
            self._login()
            return
        self._store(Tokens.from_reply(reply, self._clock()))

    def _login(self) -> None:
        if not (self._username and self._password):
            raise SessionEndedError(
                "the session has ended and no password is at hand: log in again"
            )
        request = auth_pb2.LoginRequest(username=self._username, password=self._password)
        reply = self._auth.Login(request, timeout=AUTH_TIMEOUT_S)
        self._store(Tokens.from_reply(reply, self._clock()))

    def _store(self, tokens: Tokens) -> None:
        self._tokens = tokens
        if self._on_change is not None:
            self._on_change(tokens)
