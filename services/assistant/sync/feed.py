"""The frames of one WatchConversations stream: `ready` once it follows the owner's
conversations, then `conversation` (created or changed, BASIC view), `messages` (those appended
since) and `deleted` as they happen, a keepalive comment through quiet spells, and an end once
nothing changed for the idle time.

The change feed is the kit's watch loop (`voka.watch`): the "record" followed is the version of
each of the owner's most recently active conversations (update time, message count), re-read
when a change hint of one of them arrives from any replica (`hints`) and at least every poll
period, and the frames are the difference between two reads. So a lost hint delays a change by
one period but never hides it, and a burst of hints costs one re-read. A conversation that left
the read (older than the window) is checked before it is called deleted. The idle end is judged
after each frame, so it comes at most one heartbeat after the idle time.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Hashable, Mapping
from dataclasses import dataclass
from datetime import datetime

from google.protobuf import json_format

from services.assistant import convert
from services.assistant.conversation_store import ConversationStore
from services.assistant.message_store import MessageStore
from services.assistant.records import ConversationRecord
from services.assistant.settings import AssistantSettings
from services.assistant.sync import hints
from voka import sse, watch
from voka.assistant.v1 import assistant_pb2
from voka.bus import Bus

MAX_MESSAGES = 50  # per `messages` event, the newest; `omitted` counts the others
Versions = Mapping[str, tuple[datetime, int]]  # by conversation id: update time, message count


@dataclass(frozen=True)
class LiveSync:
    """What every stream of a replica shares: the stores, the bus, the cap per caller, timing."""

    bus: Bus
    conversations: ConversationStore
    messages: MessageStore
    cap: sse.StreamCap
    heartbeat: float
    idle: float
    poll: float
    window: int  # conversations followed, the most recently active

    @classmethod
    def of(
        cls,
        settings: AssistantSettings,
        bus: Bus,
        conversations: ConversationStore,
        messages: MessageStore,
    ) -> LiveSync:
        return cls(
            bus=bus,
            conversations=conversations,
            messages=messages,
            cap=sse.StreamCap(settings.assistant_watch_streams_per_caller, "conversation streams"),
            heartbeat=settings.assistant_watch_heartbeat_seconds,
            idle=settings.assistant_watch_idle_seconds,
            poll=settings.assistant_watch_poll_seconds,
            window=settings.assistant_watch_max_conversations,
        )


def _version(versions: Versions) -> Hashable:
    return tuple(sorted(versions.items()))


def _shown(message: assistant_pb2.Message) -> dict[str, object]:
    """A message as the stream sends it: without its images' bytes (up to megabytes each;
    their type, size and description stay), which ListMessages returns."""
    light = assistant_pb2.Message()
    light.CopyFrom(message)
    for image in light.images:
        image.ClearField("data")
    return json_format.MessageToDict(light)


class Feed:
    """One stream's frames (`frames()`): `owner`'s conversations, from `live`."""

    def __init__(self, live: LiveSync, owner: str) -> None:
        self._live = live
        self._owner = owner
        self._quiet = sse.Quiet(live.idle)

    def frames(self) -> AsyncGenerator[bytes, None]:
        return sse.live(self._changes(), heartbeat=self._live.heartbeat, quiet=self._quiet)

    async def _changes(self) -> AsyncGenerator[bytes, None]:
        live = self._live
        read = functools.partial(live.conversations.versions, self._owner, live.window)
        watched: watch.Watched[Versions] = watch.Watched(
            read=read, version=_version, final=lambda _: False
        )
        concerns = functools.partial(hints.is_owned_by, owner=self._owner)
        before: Versions | None = None
        async for now in watch.changes(
            live.bus, hints.SUBJECT, concerns, watched, poll_seconds=live.poll
        ):
            if before is None:
                yield sse.event({"conversations": len(now)}, "ready")
            else:
                async for frame in self._difference(before, now):
                    self._quiet.changed()
                    yield frame
            before = now

    async def _difference(self, before: Versions, now: Versions) -> AsyncGenerator[bytes, None]:
        """The frames that take a client from `before` to `now`."""
        store = self._live.conversations
        vanished = before.keys() - now.keys()
        if vanished:
            for gone in sorted(vanished - await store.existing(vanished)):
                yield sse.event({"name": f"conversations/{gone}"}, "deleted")
        for conversation_id, version in now.items():
            if before.get(conversation_id) == version:
                continue
            record = await store.get(conversation_id)
            if record is None:  # deleted meanwhile: the next read says so
                continue
            shown = json_format.MessageToDict(convert.conversation(record))
            yield sse.event({"conversation": shown}, "conversation")
            seen = before[conversation_id][1] if conversation_id in before else 0
            if record.message_count > seen:
                yield await self._appended(record, seen)

    async def _appended(self, record: ConversationRecord, seen: int) -> bytes:
        """The `messages` event of what `record` got after its first `seen` messages."""
        start = max(seen, record.message_count - MAX_MESSAGES)
        stored = await self._live.messages.after(record.id, start - 1, MAX_MESSAGES)
        return sse.event(
            {
                "conversation": record.name,
                "messages": [_shown(m.message) for m in stored],
                "omitted": start - seen,
            },
            "messages",
        )
