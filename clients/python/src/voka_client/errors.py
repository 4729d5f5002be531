"""The client's own errors. Failed calls stay `grpc.RpcError` (code and details as the server
sent them); these are the outcomes a call cannot express: a session that cannot be renewed, a
job or a reply that ended badly after the call itself succeeded."""

from __future__ import annotations

import grpc
from google.rpc import status_pb2


def status_of(error: grpc.RpcError) -> tuple[grpc.StatusCode, str]:
    """The code and message of a failed call. The synchronous API raises errors that are also
    `grpc.Call`s, which its type stubs cannot express."""
    code, details = getattr(error, "code", None), getattr(error, "details", None)
    if not callable(code):
        return grpc.StatusCode.UNKNOWN, str(error)
    return code(), (details() if callable(details) else "") or ""


class VokaClientError(Exception):
    """Base of the client's errors."""


class BadUrlError(VokaClientError, ValueError):
    """The server address is not one the client can dial."""


class SessionEndedError(VokaClientError):
    """The session's refresh token is no longer accepted and no password is at hand: log in
    again (`voka login`)."""


class JobFailedError(VokaClientError):
    """A transcription or a task ended in a state other than SUCCEEDED."""

    def __init__(self, name: str, state: str, message: str) -> None:
        super().__init__(f"{name} ended {state}" + (f": {message}" if message else ""))
        self.name = name
        self.state = state


class ReplyFailedError(VokaClientError):
    """A streamed reply failed after it started (the stream's `error` event)."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message or f"the reply failed (code {status.code})")
        self.status = status
