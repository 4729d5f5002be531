"""The vision service's wiring: its history database (SQLite file or PostgreSQL, migrated at
start), the worker threads, the engines chosen from configuration, the kinect peer, account
erasure (with NATS), and the servicer."""

from __future__ import annotations

import logging

from services.vision import peers
from services.vision.analyses.pipeline import Pipeline
from services.vision.analyses.store import AnalysisStore
from services.vision.engines.selection import select
from services.vision.images.decode import Decoder
from services.vision.rpcs import VisionServicer
from services.vision.settings import VisionSettings
from services.vision.workers import Workers
from voka.erasure import erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration

log = logging.getLogger("voka.vision")


async def build(resources: Resources) -> list[Registration]:
    if resources.sessions is None:
        raise RuntimeError("vision needs its database (ServiceSpec(database=True))")
    sessions = resources.sessions
    settings = resources.settings_as(VisionSettings)
    workers = Workers(
        workers=settings.vision_workers,
        queue_size=settings.vision_queue_size,
        timeout=settings.vision_inference_timeout_seconds,
    )
    engines = select(settings, workers)
    decoder = Decoder(
        max_bytes=settings.vision_max_upload_bytes, max_pixels=settings.vision_max_pixels
    )
    kinect = peers.Kinect(settings, peers.own_identity(settings))
    log.info(
        "vision engines: objects %s, labels %s, captions %s, hands %s%s",
        engines.detector.name, engines.classifier.name, engines.captioner.name,
        engines.hands.name, f", signs {engines.sign.name}" if engines.sign else "",
    )  # fmt: skip

    async def stop() -> None:
        await kinect.close()
        await engines.close()
        workers.close()

    resources.on_stop.append(stop)

    async def erase(owner: str) -> int:
        async with sessions() as session, session.begin():
            return await AnalysisStore(session).erase(owner)

    if resources.bus is not None:
        await erase_deleted_users(resources.bus, "vision", erase)
    pipeline = Pipeline(engines, decoder, workers)
    servicer = VisionServicer(sessions, resources.outbox, pipeline, kinect, settings)
    return [registration(servicer)]


SPEC = ServiceSpec(name="vision", build=build, database=True)
