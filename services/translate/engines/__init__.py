"""Translation engines behind one interface (`base.Engine`), and the set a process runs: the
service and the `models` command build it the same way from the settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from services.translate.engines.apertium import ApertiumEngine
from services.translate.engines.base import Engine
from services.translate.engines.ctranslate2 import CTranslate2Engine
from services.translate.engines.llm import LlmEngine
from services.translate.engines.marian import MarianEngine
from services.translate.engines.neural import NeuralEngine
from services.translate.settings import TranslateSettings

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


def every_engine(settings: TranslateSettings) -> list[Engine]:
    apertium = ApertiumEngine(
        settings.translate_apertium_binary, settings.translate_apertium_timeout
    )
    llm = LlmEngine(
        settings.translate_llm_model, settings.translate_llm_threads, settings.translate_llm_context
    )
    return [*neural_engines(settings), apertium, llm]


async def unload_idle(every: Sequence[Engine], idle_seconds: float) -> None:
    """Forever: every minute, unload the neural models unused for `idle_seconds`."""
    neural = [e for e in every if isinstance(e, NeuralEngine)]
    while True:
        await asyncio.sleep(IDLE_CHECK_SECONDS)
        for engine in neural:
            for source, target in engine.unload_idle(idle_seconds):
                log.info("unloaded idle model %s-%s (engine %d)", source, target, engine.kind)
