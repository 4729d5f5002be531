"""The meetings service's wiring: its database (SQLite file or PostgreSQL, migrated at start),
the recording pipeline's consumers (with NATS) and the servicer."""

from __future__ import annotations

from services.meetings import audio_files, peers
from services.meetings.deps import Deps
from services.meetings.meeting_store import MeetingRepo
from services.meetings.pipeline import Pipeline
from services.meetings.servicer import MeetingsServicer
from services.meetings.settings import MeetingsSettings
from services.meetings.store import Store
from voka.erasure import erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    if resources.sessions is None:
        raise RuntimeError("meetings needs its database (ServiceSpec(database=True))")
    settings = resources.settings_as(MeetingsSettings)
    store = Store(resources.sessions)
    calls = peers.Peers(settings, peers.own_identity(settings))
    resources.on_stop.append(calls.close)
    deps = Deps(store=store, settings=settings, bus=resources.bus, peers=calls,
                recordings_dir=settings.data_dir / "meetings" / "recordings")  # fmt: skip
    if resources.bus is not None:

        async def erase(owner: str) -> int:
            async with store.session() as session:
                removed, paths = await MeetingRepo(session).erase_organized(owner)
            await audio_files.remove(*paths)
            return removed + await store.erase(owner)

        await erase_deleted_users(resources.bus, "meetings", erase)
        await Pipeline(resources.sessions, resources.bus, calls, settings).start()
    servicer = MeetingsServicer(deps)
    return [registration(servicer)]


SPEC = ServiceSpec(name="meetings", build=build, database=True)
