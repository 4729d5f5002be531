"""What the meeting, recording, chat and pipeline handlers share, built once by the service."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from google.protobuf.message import Message

from services.meetings.peers import Peers
from services.meetings.settings import MeetingsSettings
from services.meetings.store import Store
from voka.bus import Bus

log = logging.getLogger("voka.meetings")


@dataclass(frozen=True)
class Deps:
    store: Store
    settings: MeetingsSettings
    bus: Bus | None
    recordings_dir: Path
    peers: Peers

    def ended_before(self, now: datetime) -> datetime:
        """Meetings scheduled to end before this read as ENDED (`MeetingRecord.state_at`)."""
        return now - timedelta(seconds=self.settings.meetings_auto_end_after)

    async def emit(self, message: Message) -> None:
        """Send a hint without waiting for JetStream's ack (`Bus.emit`), for events nobody
        must act on exactly once (who entered or left a room); a failure is logged and never
        fails the RPC that caused it."""
        if self.bus is None:
            return
        try:
            await self.bus.emit(message)
        except Exception:
            log.warning("could not emit %s", message.DESCRIPTOR.name, exc_info=True)

    async def publish(self, message: object, event_id: str | None = None) -> None:
        """Publish an event where the service runs with NATS (tests of the plain CRUD run
        without it)."""
        if self.bus is not None:
            await self.bus.publish(message, event_id=event_id)  # type: ignore[arg-type]
