"""Erasure of a deleted account's data in every service that keeps some.

The auth service deletes the account and publishes `voka.auth.user.deleted`; each other service
consumes it with its own durable consumer and deletes what it keeps for that user (history,
conversations, samples, ...). The event is stored in JetStream, so a service that was down when
the account went erases on its next start. Erasers must be idempotent: a redelivered event
finds nothing left to delete.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from voka.auth.v1 import events_pb2
from voka.bus import Bus, Event, Subscription

log = logging.getLogger("voka.erasure")

# owner (`users/{user}`) -> how many records it removed
Eraser = Callable[[str], Awaitable[int]]


async def erase_deleted_users(
    bus: Bus, service: str, erase: Eraser
) -> Subscription[events_pb2.UserDeletedEvent]:
    """Run `erase` for every deleted account, once per service (replicas share the consumer)."""

    async def handle(event: Event[events_pb2.UserDeletedEvent]) -> None:
        removed = await erase(event.message.user)
        log.info("erased %d records of deleted %s", removed, event.message.user)

    return await bus.subscribe(events_pb2.UserDeletedEvent, f"{service}-user-erasure", handle)
