"""Calls to peer services: one deadline habit and one rule for which refusals are final.

A peer's answer either describes the request — bad arguments, a missing model or record, a
duplicate, a forbidden or unknown call — and another attempt gets the same answer (`FINAL`,
raised as `RefusedError`), or it describes the moment — down, overloaded, timed out, aborted,
an internal fault, or a service token the peer does not accept yet (JWKS rotation lag; the
identity renews) — and a later attempt may succeed: those raise as the `AioRpcError` they are,
for the caller's retry mechanism (event redelivery with backoff, the task scheduler's retries).

Before this module, tasks treated UNAUTHENTICATED and ALREADY_EXISTS as final and meetings
retried them; ALREADY_EXISTS is final and UNAUTHENTICATED retried everywhere now (CHANGELOG).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
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
