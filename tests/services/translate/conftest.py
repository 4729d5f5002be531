"""The translate service in process, on a real NATS server and SQLite, with tiny MarianMT models
for en-de, de-en and en-it, the same model converted for CTranslate2 as en-nl (Apertium serves
the pairs it has: en-es, fr-es, ca-en, ...)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from services.translate.engines.ctranslate2 import SUBDIR, convert
from services.translate.service import SPEC
from services.translate.settings import TranslateSettings
from tests.fixtures.tokens import TokenFactory
from tests.services.translate import tiny_marian
from tools.processes import NatsServer
from voka.server import Running, start
from voka.translate.v1 import translate_pb2_grpc

MARIAN_PAIRS = ("en-de", "de-en", "en-it")
# Installed only in its CTranslate2 form (converted from the tiny model, then the Marian copy
# removed), so routing must pick that engine for it.
CT2_PAIR = "en-nl"


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    first = tiny_marian.build(root / MARIAN_PAIRS[0])
    for pair in MARIAN_PAIRS[1:]:
        shutil.copytree(first, root / pair)
    convert(first, root / SUBDIR / CT2_PAIR)
    return root


def settings_for(
    tokens: TokenFactory, nats: NatsServer, models_dir: Path, data_dir: Path, **extra: object
) -> TranslateSettings:
    return TranslateSettings(
        service="translate",
        port=0,
        data_dir=data_dir,
        jwks_file=tokens.jwks_file,
        nats_url=nats.url,
        translate_models_dir=models_dir,
        translate_batch_window_ms=40,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory,
    nats: NatsServer,
    models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    running = await start(
        SPEC, settings_for(tokens, nats, models_dir, tmp_path_factory.mktemp("data"))
    )
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(service: Running) -> AsyncIterator[translate_pb2_grpc.TranslateServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield translate_pb2_grpc.TranslateServiceStub(channel)
