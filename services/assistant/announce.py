"""`voka.assistant.reply.completed` and `tool_call.executed`: one event per reply and per tool
call, whatever the RPC, for statistics and webhooks. They carry no text or arguments (those stay
in the owner's conversation).

Nothing else records them for their consumers, so they must not be lost: they go through the
kit's transactional outbox (`voka.outbox`), whose relay publishes them when NATS takes them. A
stored reply's event commits in the transaction that stores the reply (`MessageStore.append`),
so it exists exactly when the reply does. A stand-alone reply and a tool call store nothing
else: their event is a transaction of its own, and a failure to write it is logged, never
raised, so an event can neither slow nor break the reply it reports. None waits for NATS."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.assistant import convert
from services.assistant.tools import ToolResult
from voka import wellknown
from voka.assistant.v1 import assistant_pb2, events_pb2
from voka.outbox import Outbox

if TYPE_CHECKING:
    from services.assistant.replies import Outcome

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Origin:
    """Who a reply is for, which RPC asked for it and how it is made: its events' envelope."""

    owner: str
    channel: events_pb2.ReplyChannel.ValueType
    provider: str
    hemisphere: assistant_pb2.HemisphereBalance
    conversation: str = ""  # `conversations/{id}`; empty for stand-alone chats
    completion: str = ""  # `completions/{id}` for async completions


class Announcer:
    """Writes reply and tool-call events to the outbox."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox) -> None:
        self._sessions = sessions
        self._outbox = outbox

    @staticmethod
    def reply_event(
        origin: Origin, outcome: Outcome, reply_message: str = ""
    ) -> events_pb2.ReplyCompletedEvent:
        """The event of a reply that ended (completed, cancelled or cut short), for the
        transaction that stores it as `reply_message`."""
        return events_pb2.ReplyCompletedEvent(
            owner=origin.owner, conversation=origin.conversation, reply_message=reply_message,
            completion=origin.completion, channel=origin.channel, model=outcome.model,
            provider=origin.provider, usage=outcome.usage(), timing=outcome.timing(),
            finish_reason=convert.finish_reason(outcome.finish),
            tool_call_count=len(outcome.calls), hemisphere=origin.hemisphere,
            time=_now())  # fmt: skip

    async def reply(self, origin: Origin, outcome: Outcome) -> None:
        """A reply that is stored nowhere (a stand-alone chat) ended."""
        await self._record(self.reply_event(origin, outcome))

    async def tool_call(self, origin: Origin, result: ToolResult, tool: str) -> None:
        """A tool call returned (or was refused); `tool` is its resource name."""
        await self._record(events_pb2.ToolCallExecutedEvent(
            owner=origin.owner, conversation=origin.conversation, tool=tool,
            tool_call_id=result.call_id, is_error=result.is_error, refused=result.refused,
            timed_out=result.timed_out, duration=wellknown.duration(result.duration_ms / 1000),
            time=_now()))  # fmt: skip

    async def _record(self, event: Message) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await self._outbox.add(session, event)
        except Exception:
            log.error("could not record %s", event.DESCRIPTOR.name, exc_info=True)


def _now() -> timestamp_pb2.Timestamp:
    return wellknown.timestamp(datetime.now(UTC))
