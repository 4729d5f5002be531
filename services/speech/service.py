"""The speech service's wiring: models (the packaged ones installed at first start), the
recognition pool, voices, stores, the embedded transcription worker, and the servicer.

Models load lazily, on the first request that needs one, so the service is SERVING in about a
second; the first recognition with a cold model waits for its load.
"""

from __future__ import annotations

import asyncio

from services.speech.blobs import Blobs
from services.speech.erasure import eraser
from services.speech.models import REFRESH_SECONDS, ensure_default_models
from services.speech.recognition import Recognition
from services.speech.rpcs import SpeechServicer
from services.speech.rpcs.openai import OpenAiAudioRpcs
from services.speech.settings import SpeechSettings
from services.speech.synthesis import Synthesis
from services.speech.text_entries.entries import TextEntries
from services.speech.text_entries.store import TextEntryStore
from services.speech.transcription_store import TranscriptionStore
from services.speech.transcriptions import Transcriptions
from services.speech.tts.catalogue import VoiceCatalogue
from services.speech.uploads import Uploads
from services.speech.voice_sample_store import VoiceSampleStore
from services.speech.voice_samples import VoiceSamples
from services.speech.worker import Worker
from voka import refresh
from voka.erasure import erase_deleted_users
from voka.objects import Objects
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(SpeechSettings)
    if resources.sessions is None or resources.bus is None:
        raise RuntimeError("speech needs its database and NATS")
    await asyncio.to_thread(ensure_default_models, settings)
    recognition = Recognition.from_settings(settings)
    models = recognition.pool.catalogue
    await asyncio.to_thread(models.refresh)  # the first scan; then every REFRESH_SECONDS
    listing = asyncio.create_task(refresh.every(REFRESH_SECONDS, models.refresh, "speech models"))
    voices = await asyncio.to_thread(VoiceCatalogue.from_settings, settings)  # asks espeak-ng
    blobs = Blobs(settings.data_dir / "speech")
    transcription_store = TranscriptionStore(resources.sessions)
    voice_sample_store = VoiceSampleStore(resources.sessions)
    text_entry_store = TextEntryStore(resources.sessions)

    async def close_engines() -> None:
        listing.cancel()
        recognition.pool.close()
        voices.close()

    resources.on_stop.append(close_engines)
    if settings.speech_embedded_worker:
        worker = Worker(resources.bus, transcription_store, blobs, recognition, settings)
        await worker.start()
        resources.on_stop.append(worker.stop)
    await erase_deleted_users(
        resources.bus,
        "speech",
        eraser(transcription_store, voice_sample_store, text_entry_store, blobs),
    )
    synthesis = Synthesis(voices)
    servicer = SpeechServicer(
        settings=settings,
        recognition=recognition,
        transcriptions=Transcriptions(transcription_store, blobs, resources.bus),
        transcription_store=transcription_store,
        uploads=Uploads(blobs, Objects(resources.bus.js, "speech"), settings),
        voices=voices,
        synthesis=synthesis,
        voice_samples=VoiceSamples(voice_sample_store, blobs, recognition, settings),
        voice_sample_store=voice_sample_store,
        text_entries=TextEntries(text_entry_store, blobs, recognition),
        text_entry_store=text_entry_store,
    )
    openai_audio = OpenAiAudioRpcs(
        settings=settings, recognition=recognition, voices=voices, synthesis=synthesis
    )
    return [registration(servicer), registration(openai_audio)]


SPEC = ServiceSpec(name="speech", build=build, database=True)
