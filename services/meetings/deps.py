"""What the meeting, recording, chat and pipeline handlers share, built once by the service."""

from __future__ import annotations

from dataclasses import dataclass
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

    async def publish(self, message: object, event_id: str | None = None) -> None:
        """Publish an event where the service runs with NATS (tests of the plain CRUD run
        without it)."""
        if self.bus is not None:
            await self.bus.publish(message, event_id=event_id)  # type: ignore[arg-type]
