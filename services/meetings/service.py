"""The meetings service's wiring: its database (SQLite file or PostgreSQL, migrated at start),
the peers it calls with its own identity, account erasure and the recording pipeline's
consumers (with NATS), and the servicer."""

from __future__ import annotations

from services.meetings import peers
from services.meetings.database import Database
from services.meetings.meetings.pipeline import Pipeline
from services.meetings.rpcs import MeetingsServicer
from services.meetings.settings import MeetingsSettings
from voka.erasure import erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    if resources.sessions is None:
        raise RuntimeError("meetings needs its database (ServiceSpec(database=True))")
    settings = resources.settings_as(MeetingsSettings)
    database = Database(resources.sessions, resources.outbox)
    calls = peers.Peers(settings, peers.own_identity(settings))
    resources.on_stop.append(calls.close)
    if resources.bus is not None and resources.outbox is not None:
        await erase_deleted_users(resources.bus, "meetings", database.erase)
        await Pipeline(resources.sessions, resources.bus, resources.outbox, calls, settings).start()
    servicer = MeetingsServicer(database, settings, resources.bus, calls)
    return [registration(servicer)]


SPEC = ServiceSpec(name="meetings", build=build, database=True)
