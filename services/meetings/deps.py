"""What the meeting, recording, chat and pipeline handlers share, built once by the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from services.meetings.peers import Peers
from services.meetings.settings import MeetingsSettings
from services.meetings.store import Store
from voka.bus import Bus


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

    async def publish(self, message: object, event_id: str | None = None) -> None:
        """Publish an event where the service runs with NATS (tests of the plain CRUD run
        without it)."""
        if self.bus is not None:
            await self.bus.publish(message, event_id=event_id)  # type: ignore[arg-type]
