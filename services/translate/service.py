"""The translate service's wiring: engines, catalogue, batcher, detector, recorder, servicer.

It starts with no Marian model installed: pairs Apertium has are served by Apertium, the others
answer FAILED_PRECONDITION with the command that installs their model.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.translate import store
from services.translate.batching import Batcher
from services.translate.catalogue import LANGUAGES, Catalogue, parse_engines
from services.translate.detection import Detector
from services.translate.engines.apertium import ApertiumEngine
from services.translate.engines.base import Engine
from services.translate.engines.ctranslate2 import CTranslate2Engine
from services.translate.engines.marian import MarianEngine
from services.translate.engines.neural import NeuralEngine
from services.translate.recorder import Recorder
from services.translate.servicer import TranslateServicer
from services.translate.settings import TranslateSettings
from services.translate.translator import Translator
from voka.erasure import Eraser, erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration

log = logging.getLogger("voka.translate")
IDLE_CHECK_SECONDS = 60.0


def neural_engines(settings: TranslateSettings) -> list[NeuralEngine[Any]]:
    """The engines holding models in memory (each under its own budget), fastest first."""
    budget = settings.translate_memory_budget_mb << 20
    ct2 = CTranslate2Engine(
        settings.models_dir,
        budget,
        settings.translate_ct2_compute_type,
        settings.translate_ct2_threads,
    )
    return [ct2, MarianEngine(settings.models_dir, budget)]


def engines(settings: TranslateSettings) -> list[Engine]:
    apertium = ApertiumEngine(
        settings.translate_apertium_binary, settings.translate_apertium_timeout
    )
    return [*neural_engines(settings), apertium]


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(TranslateSettings)
    assert resources.sessions is not None  # ServiceSpec(database=True)
    every = engines(settings)
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
    recorder = Recorder(resources.sessions, resources.bus)
    unloader = asyncio.create_task(_unload_idle(every, settings.translate_idle_unload_seconds))

    async def stop() -> None:
        unloader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await unloader
        await recorder.close()
        await batcher.close()
        executor.shutdown(wait=False, cancel_futures=True)

    resources.on_stop.append(stop)
    if resources.bus is not None:
        await erase_deleted_users(resources.bus, "translate", eraser(resources.sessions, recorder))

    def loaded(engine: int, source: str, target: str) -> bool:
        chosen = by_kind.get(engine)
        return chosen is not None and chosen.loaded(source, target)

    return [registration(TranslateServicer(translator, recorder, resources.sessions, loaded))]


def eraser(sessions: async_sessionmaker[AsyncSession], recorder: Recorder) -> Eraser:
    async def erase(owner: str) -> int:
        await recorder.flush()  # a record still queued would bring the history back
        async with sessions.begin() as session:
            return await store.erase_owner(session, owner)

    return erase


async def _unload_idle(every: Sequence[Engine], idle_seconds: float) -> None:
    neural = [e for e in every if isinstance(e, NeuralEngine)]
    while True:
        await asyncio.sleep(IDLE_CHECK_SECONDS)
        for engine in neural:
            for source, target in engine.unload_idle(idle_seconds):
                log.info("unloaded idle model %s-%s (engine %d)", source, target, engine.kind)


SPEC = ServiceSpec(name="translate", build=build, database=True)
