"""`voka.assistant.conversation.changed`: the hint a conversation's change sends to the
WatchConversations streams of every replica. The stores send it after their transaction
commits (a stream woken earlier would re-read the old state). A hint is not the truth: the
streams re-read the owner's conversations, and a slow re-read covers a lost hint, so it is
emitted without waiting for JetStream (`Bus.emit`) and a failure to send it is logged, never
raised into the write it reports."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from nats.aio.msg import Msg

from voka import wellknown
from voka.assistant.v1 import events_pb2
from voka.bus import EVENT_TYPE, Bus, subject_of

log = logging.getLogger(__name__)

SUBJECT = subject_of(events_pb2.ConversationChangedEvent)


class ChangeHints:
    """Emits a conversation's changes on the bus."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def changed(
        self, owner: str, conversation_id: str, change: events_pb2.ConversationChange.ValueType
    ) -> None:
        event = events_pb2.ConversationChangedEvent(
            owner=owner,
            conversation=f"conversations/{conversation_id}",
            change=change,
            time=wellknown.timestamp(datetime.now(UTC)),
        )
        try:
            await self._bus.emit(event)
        except Exception:
            log.warning("change of %s not hinted", event.conversation, exc_info=True)


def is_owned_by(msg: Msg, owner: str) -> bool:
    """Whether a message on SUBJECT is a change of one of `owner`'s conversations: what wakes
    that owner's streams."""
    kind = events_pb2.ConversationChangedEvent.DESCRIPTOR.full_name
    if (msg.headers or {}).get(EVENT_TYPE) != kind:
        return False
    return events_pb2.ConversationChangedEvent.FromString(msg.data).owner == owner
