"""The translate service's wiring: engines, catalogue (planned again in the background),
batcher, detector, store, recorder, the servicer and LibreTranslate's API on top of it.

It starts with no Marian model installed: pairs Apertium has are served by Apertium, the others
answer FAILED_PRECONDITION with the command that installs their model.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from services.translate.batching import Batcher
from services.translate.catalogue import LANGUAGES, REFRESH_SECONDS, Catalogue, parse_engines
from services.translate.detection import Detector
from services.translate.engines import every_engine, unload_idle
from services.translate.recorder import Recorder
from services.translate.rpcs import TranslateServicer
from services.translate.rpcs.libretranslate import LibreTranslateRpcs
from services.translate.settings import TranslateSettings
from services.translate.store import TranslationStore
from services.translate.translator import Translator
from voka import refresh
from voka.erasure import erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(TranslateSettings)
    assert resources.transactions is not None  # ServiceSpec(database=True)
    every = every_engine(settings)
    by_kind = {engine.kind: engine for engine in every}
    executor = ThreadPoolExecutor(settings.translate_workers, thread_name_prefix="translate")
    batcher = Batcher(
        executor,
        window=settings.translate_batch_window_ms / 1000,
        max_batch=settings.translate_max_batch,
        queue_size=settings.translate_queue_size,
        cache_size=settings.translate_cache_size,
    )
    catalogue = Catalogue(every, parse_engines(settings.translate_engines))
    translator = Translator(catalogue, batcher, Detector(LANGUAGES), executor)
    store = TranslationStore(resources.transactions, resources.outbox)
    recorder = Recorder(store)
    background = [
        asyncio.create_task(unload_idle(every, settings.translate_idle_unload_seconds)),
        asyncio.create_task(
            refresh.every(REFRESH_SECONDS, catalogue.refresh, "translation routes")
        ),
    ]

    async def stop() -> None:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await recorder.close()
        await batcher.close()
        executor.shutdown(wait=False, cancel_futures=True)

    resources.on_stop.append(stop)
    if resources.bus is not None:
        await erase_deleted_users(resources.bus, "translate", recorder.erase)

    def loaded(engine: int, source: str, target: str) -> bool:
        chosen = by_kind.get(engine)
        return chosen is not None and chosen.loaded(source, target)

    servicer = TranslateServicer(translator, recorder, store, loaded)
    return [registration(servicer), registration(LibreTranslateRpcs(servicer, translator))]


SPEC = ServiceSpec(name="translate", build=build, database=True)
