"""The meetings service's wiring: its database (SQLite file or PostgreSQL, migrated at start)
and the servicer. Clients and projects are built; the other RPCs answer UNIMPLEMENTED through
the kit until their issues land."""

from __future__ import annotations

from services.meetings.servicer import MeetingsServicer
from services.meetings.store import Store
from voka.erasure import erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    if resources.sessions is None:
        raise RuntimeError("meetings needs its database (ServiceSpec(database=True))")
    store = Store(resources.sessions)
    if resources.bus is not None:
        await erase_deleted_users(resources.bus, "meetings", store.erase)
    servicer = MeetingsServicer(store)  # type: ignore[abstract]
    return [registration(servicer)]


SPEC = ServiceSpec(name="meetings", build=build, database=True)
