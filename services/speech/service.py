"""The speech service's wiring: models (the packaged ones installed at first start), the
recognition pool, voices, stores, the embedded transcription worker, and the servicer.

Models load lazily, on the first request that needs one, so the service is SERVING in about a
second; the first recognition with a cold model waits for its load.
"""

from __future__ import annotations

import asyncio

from services.speech.blobs import Blobs
from services.speech.jobs import Jobs
from services.speech.models import ensure_default_models
from services.speech.recognize import Recognition
from services.speech.sample_store import SampleStore
from services.speech.samples import Samples
from services.speech.servicer import SpeechServicer
from services.speech.settings import SpeechSettings
from services.speech.store import JobStore
from services.speech.synthesis import Synthesis
from services.speech.tts.catalogue import VoiceCatalogue
from services.speech.worker import Worker
from voka.erasure import Eraser, erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(SpeechSettings)
    if resources.sessions is None or resources.bus is None:
        raise RuntimeError("speech needs its database and NATS")
    await asyncio.to_thread(ensure_default_models, settings)
    recognition = Recognition.from_settings(settings)
    voices = VoiceCatalogue.from_settings(settings)
    blobs, jobs = Blobs(settings.data_dir / "speech"), JobStore(resources.sessions)

    async def close_engines() -> None:
        recognition.pool.close()
        voices.close()

    resources.on_stop.append(close_engines)
    if settings.speech_embedded_worker:
        worker = Worker(resources.bus, jobs, blobs, recognition, settings)
        await worker.start()
        resources.on_stop.append(worker.stop)
    samples = SampleStore(resources.sessions)
    await erase_deleted_users(resources.bus, "speech", eraser(jobs, samples, blobs))
    servicer = SpeechServicer(
        recognition,
        Jobs(jobs, blobs, resources.bus, settings),
        Synthesis(voices, settings),
        Samples(samples, blobs, recognition, settings),
        settings,
    )
    return [registration(servicer)]


def eraser(jobs: JobStore, samples: SampleStore, blobs: Blobs) -> Eraser:
    """A deleted user's jobs and samples: rows first (nothing points at a file any more), then
    their files."""

    async def erase(owner: str) -> int:
        paths = [*await jobs.erase_owner(owner), *await samples.erase_owner(owner)]
        for path in paths:
            await blobs.delete(path)
        return len(paths)

    return erase


SPEC = ServiceSpec(name="speech", build=build, database=True)
