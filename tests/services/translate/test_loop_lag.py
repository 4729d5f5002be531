"""No translate RPC holds the event loop longer than 50 ms (issue 16, item 3): the catalogue,
translations (written, listed, counted), detection, LibreTranslate's catalogue and the kit's."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from services.translate.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.loop_lag import Phase, assert_loop_free
from tests.services.translate.conftest import settings_for
from tools.processes import NatsServer
from voka.server import Running, start
from voka.translate.v1 import (
    libretranslate_pb2,
    libretranslate_pb2_grpc,
    translate_pb2,
    translate_pb2_grpc,
)


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:  # fmt: skip
    """The per-user rate limit lifted: the phases call as one user."""
    data = tmp_path_factory.mktemp("data")
    running = await start(
        SPEC, settings_for(tokens, nats, models_dir, data, rate_limit_per_second=0)
    )
    yield running
    await running.stop()


async def test_no_translate_rpc_holds_the_event_loop(
    service: Running, stub: translate_pb2_grpc.TranslateServiceStub, tokens: TokenFactory
) -> None:
    me = tokens.metadata(subject="users/loop-lag")
    numbers = itertools.count()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        libre = libretranslate_pb2_grpc.LibreTranslateServiceStub(channel)
        phases = [
            Phase("ListLanguages", lambda: stub.ListLanguages(
                translate_pb2.ListLanguagesRequest())),
            Phase("ListLanguagePairs", lambda: stub.ListLanguagePairs(
                translate_pb2.ListLanguagePairsRequest(page_size=500))),
            Phase("LibreTranslate GetLanguages", lambda: libre.GetLanguages(
                libretranslate_pb2.GetLanguagesRequest())),
            Phase("LibreTranslate GetFrontendSettings", lambda: libre.GetFrontendSettings(
                libretranslate_pb2.GetFrontendSettingsRequest())),
            Phase("TranslateText", lambda: stub.TranslateText(translate_pb2.TranslateTextRequest(
                text=f"Good morning number {next(numbers)}.", source_language_code="en",
                target_language_code="de"), metadata=me)),
            Phase("DetectLanguage", lambda: stub.DetectLanguage(translate_pb2.DetectLanguageRequest(
                text="Guten Morgen, wie geht es dir heute?"), metadata=me)),
            Phase("ListTranslations", lambda: stub.ListTranslations(
                translate_pb2.ListTranslationsRequest(), metadata=me)),
            Phase("GetTranslationStats", lambda: stub.GetTranslationStats(
                translate_pb2.GetTranslationStatsRequest(), metadata=me)),
        ]  # fmt: skip
        admin = tokens.metadata(subject="users/loop-lag-admin", roles=("admin",))
        await assert_loop_free("translate", service.port, admin, phases)
