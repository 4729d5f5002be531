"""Calls to peer services: balanced channels, one deadline habit, and one rule for which
refusals are final.

Channels (`open_channel`) balance round robin over every address the name resolves to: in
Kubernetes a peer's headless Service resolves (`dns:///speech:50053`) to one address per pod,
and gRPC's default `pick_first` would pin every call of a process to one pod for ever.
Keepalive pings during calls notice a dead pod in seconds; servers end connections after
`VOKA_CONNECTION_MAX_AGE_SECONDS` (voka/server.py) so clients re-resolve and new pods get
traffic.

A peer's answer either describes the request — bad arguments, a missing model or record, a
duplicate, a forbidden or unknown call — and another attempt gets the same answer (`FINAL`,
raised as `RefusedError`), or it describes the moment — down, overloaded, timed out, aborted,
an internal fault, or a service token the peer does not accept yet (JWKS rotation lag; the
identity renews) — and a later attempt may succeed: those raise as the `AioRpcError` they are,
for the caller's retry mechanism (event redelivery with backoff, the task scheduler's retries).

Before this module, tasks treated UNAUTHENTICATED and ALREADY_EXISTS as final and meetings
retried them; ALREADY_EXISTS is final and UNAUTHENTICATED retried everywhere now (CHANGELOG).

A call a service makes under its own identity for work a user submitted names that user
(`on_behalf_of`): the peer then counts the call as the user's (rate limits, quotas, tenancy,
logs), with the service as its actor (voka.authn). Otherwise a user could escape every limit by
queueing work as tasks or meetings.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import grpc

from voka import errors

R = TypeVar("R")

FINAL = frozenset({
    grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNIMPLEMENTED,
})  # fmt: skip


ON_BEHALF_OF = "voka-on-behalf-of"
Metadata = tuple[tuple[str, str], ...]


def on_behalf_of(subject: str) -> Metadata:
    """The metadata naming `subject` as the user a service's call is made for. Nothing for a
    subject that is no user (a task a service submitted): a service acts as itself, and the
    peer refuses a header that names no user."""
    return ((ON_BEHALF_OF, subject),) if subject.startswith("users/") else ()


KEEPALIVE_MS = 20_000  # a ping this often while calls are open...
KEEPALIVE_TIMEOUT_MS = 10_000  # ...and the connection is dead when one goes unanswered this long
CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
    ("grpc.keepalive_time_ms", KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
)


def open_channel(
    address: str, interceptors: Sequence[grpc.aio.ClientInterceptor] | None = None
) -> grpc.aio.Channel:
    """A channel to a peer at `address` (`host:port`, `dns:///host:port`, or a fixed list
    `ipv4:a:p,b:q`), balanced over every address it resolves to. Create it inside the loop."""
    return grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS, interceptors=interceptors)


class RefusedError(Exception):
    """The peer refused the request for good; the text is its code and message."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


def refusal(exc: grpc.aio.AioRpcError) -> RefusedError | None:
    """The final refusal `exc` carries, or None when a later attempt may succeed."""
    if exc.code() in FINAL:
        return RefusedError(exc.code(), exc.details() or "")
    return None


async def call(rpc: Callable[..., Awaitable[R]], request: Any, *, timeout: float) -> R:  # noqa: ASYNC109
    """`rpc(request)` under a deadline (`timeout` goes to gRPC, which sends it to the peer); a
    final refusal becomes `RefusedError`, anything else raises as it is, to be retried."""
    try:
        return await rpc(request, timeout=timeout)
    except grpc.aio.AioRpcError as exc:
        raise refusal(exc) or exc from exc


@contextmanager
def answering(peer: str) -> Iterator[None]:
    """For an RPC whose own caller waits on `peer`: the peer's final refusal becomes
    FAILED_PRECONDITION, anything else from it (down, overloaded, timed out) UNAVAILABLE; both
    name the peer, so the caller knows whom the answer came from."""
    try:
        yield
    except RefusedError as exc:
        raise errors.failed_precondition(
            f"the {peer} service refused: {exc}", f"{peer.upper()}_REFUSED"
        ) from exc
    except grpc.aio.AioRpcError as exc:
        raise errors.unavailable(
            f"the {peer} service is unavailable ({exc.code().name}: {exc.details()}); try again"
        ) from exc
