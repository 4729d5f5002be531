"""The meetings service's wiring: its database (SQLite file or PostgreSQL, migrated at start)
and the servicer. Clients and projects are built; the other RPCs answer UNIMPLEMENTED through
the kit until their issues land."""

from __future__ import annotations

from services.meetings.servicer import MeetingsServicer
from services.meetings.store import Store
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    if resources.sessions is None:
        raise RuntimeError("meetings needs its database (ServiceSpec(database=True))")
    servicer = MeetingsServicer(Store(resources.sessions))  # type: ignore[abstract]
    return [registration(servicer)]


SPEC = ServiceSpec(name="meetings", build=build, database=True)
