"""One interceptor for every call the client makes: it adds the credentials' metadata, gives a
call without a deadline the client's default one, and replays a unary call once with renewed
credentials when the edge answers UNAUTHENTICATED (an access token revoked or expired early)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc

from voka_client.credentials import Credentials


@dataclass(frozen=True)
class Deadlines:
    """Default deadlines in seconds: `unary` for calls with one answer, `stream` for calls
    that answer with a stream (watching a job, a streamed reply), which live longer."""

    unary: float = 30.0
    stream: float = 3600.0


class _CallDetails(grpc.ClientCallDetails):
    """`grpc.ClientCallDetails` is abstract; this is its plain value."""

    def __init__(
        self,
        *,
        method: str,
        timeout: float | None,
        metadata: tuple[tuple[str, str | bytes], ...],
        credentials: grpc.CallCredentials | None,
        wait_for_ready: bool | None,
        compression: grpc.Compression | None,
    ) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


class CallDefaults(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """`credentials` is asked on every call, so logging in swaps them for later calls."""

    def __init__(self, credentials: Callable[[], Credentials | None], deadlines: Deadlines) -> None:
        self._credentials = credentials
        self._deadlines = deadlines

    def _details(self, details: grpc.ClientCallDetails, streaming: bool) -> _CallDetails:
        credentials = self._credentials()
        metadata = tuple(details.metadata or ())
        if credentials is not None:
            metadata += tuple(credentials.metadata())
        timeout = details.timeout
        if timeout is None:
            timeout = self._deadlines.stream if streaming else self._deadlines.unary
        return _CallDetails(
            method=details.method,
            timeout=timeout,
            metadata=metadata,
            credentials=details.credentials,
            wait_for_ready=details.wait_for_ready,
            compression=details.compression,
        )

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        outcome = continuation(self._details(details, streaming=False), request)
        credentials = self._credentials()
        if (
            outcome.code() == grpc.StatusCode.UNAUTHENTICATED
            and credentials is not None
            and credentials.renew()
        ):
            outcome = continuation(self._details(details, streaming=False), request)
        return outcome

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(details, streaming=True), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[..., Any],
        details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        return continuation(self._details(details, streaming=False), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[..., Any],
        details: grpc.ClientCallDetails,
        request_iterator: Iterator[Any],
    ) -> Any:
        return continuation(self._details(details, streaming=True), request_iterator)
