"""The meetings service's wiring: its database (SQLite file or PostgreSQL, migrated at start),
the peers it calls with its own identity, account erasure and the recording pipeline's
consumers (with NATS), the search indexer (a background task, with or without NATS), and the
servicers (meetings, and the contact form's)."""

from __future__ import annotations

import asyncio
import functools
import logging

from services.meetings import peers
from services.meetings.chat.indexer import Indexer
from services.meetings.database import Database
from services.meetings.meetings.pipeline import Pipeline
from services.meetings.rpcs import MeetingsServicer
from services.meetings.rpcs.contact import ContactServicer
from services.meetings.settings import MeetingsSettings
from voka.assistant.v1 import embeddings_pb2
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
    await _start_indexer(resources, database, calls, settings)
    await _say_vector_scan(database)
    servicer = MeetingsServicer(database, settings, resources.bus, calls)
    return [registration(servicer), registration(ContactServicer(database, settings))]


STOP_WAIT = 5.0
log = logging.getLogger("voka.meetings")


async def _start_indexer(
    resources: Resources, database: Database, calls: peers.Peers, settings: MeetingsSettings
) -> None:
    """The search indexer (`chat.indexer`) as a background task: at stop, its round ends (or is
    cancelled after STOP_WAIT seconds) before the channels and the database close."""
    embed = functools.partial(calls.embed_texts, purpose=embeddings_pb2.EMBEDDING_PURPOSE_PASSAGE)
    indexer = Indexer(database, embed, batch=settings.meetings_search_index_batch,
                      backstop=settings.meetings_search_index_backstop)  # fmt: skip
    task = asyncio.create_task(indexer.run(), name="meetings:indexer")

    async def stop() -> None:
        indexer.stop()
        _, running = await asyncio.wait([task], timeout=STOP_WAIT)
        if running:  # a round still waiting on the assistant
            task.cancel()

    resources.on_stop.append(stop)


async def _say_vector_scan(database: Database) -> None:
    """How search by meaning scans, said once at start: exactly, in numpy (`chat.hybrid`),
    with whether this server would offer pgvector, which the service does not use yet."""
    async with database.transaction() as stores:
        offered = await stores.vectors.pgvector_available()
    log.info("search by meaning: exact numpy scan; pgvector %s", "offered by the database "
             "server (not used yet)" if offered else "not available")  # fmt: skip


SPEC = ServiceSpec(name="meetings", build=build, database=True)
