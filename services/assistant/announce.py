"""`voka.assistant.reply.completed` and `tool_call.executed`: one event per reply and per tool
call, whatever the RPC, for statistics and webhooks. They carry no text or arguments (those stay
in the owner's conversation).

They are hints published with `Bus.emit`: no wait for JetStream's ack, and a failure is logged,
never raised, so the events can neither slow nor break a reply. The truth stays in the
database; an event lost while NATS is unreachable is not sent again."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from services.assistant import convert
from services.assistant.tools import ToolResult
from voka import wellknown
from voka.assistant.v1 import assistant_pb2, events_pb2
from voka.bus import Bus

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
    """Publishes reply and tool-call events on the bus, best effort."""

    def __init__(self, bus: Bus) -> None:
        self._bus = bus

    async def reply(self, origin: Origin, outcome: Outcome, reply_message: str = "") -> None:
        """A reply ended (completed, cancelled or cut short); `reply_message` if stored."""
        await self._emit(events_pb2.ReplyCompletedEvent(
            owner=origin.owner, conversation=origin.conversation, reply_message=reply_message,
            completion=origin.completion, channel=origin.channel, model=outcome.model,
            provider=origin.provider, usage=outcome.usage(), timing=outcome.timing(),
            finish_reason=convert.finish_reason(outcome.finish),
            tool_call_count=len(outcome.calls), hemisphere=origin.hemisphere,
            time=_now()))  # fmt: skip

    async def tool_call(self, origin: Origin, result: ToolResult, tool: str) -> None:
        """A tool call returned (or was refused); `tool` is its resource name."""
        await self._emit(events_pb2.ToolCallExecutedEvent(
            owner=origin.owner, conversation=origin.conversation, tool=tool,
            tool_call_id=result.call_id, is_error=result.is_error, refused=result.refused,
            timed_out=result.timed_out, duration=wellknown.duration(result.duration_ms / 1000),
            time=_now()))  # fmt: skip

    async def _emit(self, event: Message) -> None:
        try:
            await self._bus.emit(event)
        except Exception:
            log.warning("could not emit %s", event.DESCRIPTOR.name, exc_info=True)


def _now() -> timestamp_pb2.Timestamp:
    return wellknown.timestamp(datetime.now(UTC))
