"""The other services of the mesh as task functions reach them: one gRPC channel per peer, each
call carrying the tasks service's own identity (`voka.service_identity`), never a caller's token
(tasks keep no tokens) and never a shared key. Which answers are final is the kit's rule
(`voka.peer_calls`): a final refusal (bad arguments, a missing model), like having no
identity at all, is a NonRetryableError, so the task dead-letters at once; overload and
outages raise as they are, so the scheduler retries them with backoff.

A call made for a task also names the task's owner (`voka.peer_calls.on_behalf_of`): the
service is the actor, the owner the subject. A user's work queued as tasks then counts against
the user's own limits at the peer, instead of running unlimited under the service's identity
(the kit honours the name from service identities only, voka.authn.on_behalf)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import grpc

from services.tasks.registry import NonRetryableError
from services.tasks.settings import TasksSettings
from voka import peer_calls, service_identity

R = TypeVar("R")
CALL_TIMEOUT = 60.0

_acting_for: ContextVar[str] = ContextVar("voka_tasks_acting_for", default="")


@contextmanager
def acting_for(owner: str) -> Iterator[None]:
    """Peer calls made inside (by the attempt of a task of `owner`) name `owner`."""
    token = _acting_for.set(owner)
    try:
        yield
    finally:
        _acting_for.reset(token)


class Peers(service_identity.PeerChannels):
    """Channels to peers; no identity is a refusal no retry can change."""

    def channel(self, domain: str) -> grpc.aio.Channel:
        try:
            return super().channel(domain)
        except service_identity.NoIdentityError as exc:
            raise NonRetryableError(str(exc)) from exc


_peers: Peers | None = None


def configure(peers: Peers) -> None:
    """Set by the service for its embedded workers (and by tests); a dedicated worker builds
    its own from its environment on first use."""
    global _peers  # noqa: PLW0603 - one set of channels per process
    _peers = peers


def current() -> Peers:
    global _peers  # noqa: PLW0603
    if _peers is None:
        settings = TasksSettings(service="tasks")
        _peers = Peers(settings, service_identity.from_env("tasks", settings.address_of("auth")))
    return _peers


async def call(rpc: Callable[..., Awaitable[R]], request: Any) -> R:
    """`rpc(request)` with a deadline, on behalf of the task's owner; a final refusal becomes
    a NonRetryableError."""
    if metadata := peer_calls.on_behalf_of(_acting_for.get()):
        rpc = functools.partial(rpc, metadata=metadata)
    try:
        return await peer_calls.call(rpc, request, timeout=CALL_TIMEOUT)
    except peer_calls.RefusedError as exc:
        raise NonRetryableError(str(exc)) from exc
