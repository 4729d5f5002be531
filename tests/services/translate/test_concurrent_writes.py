"""Writes by one user at the same time all succeed (issue 15, item 2), on SQLite and on
PostgreSQL: 60 concurrent translations (each a history entry), deletions and purges."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path

import pytest

from services.translate.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.concurrency import failures, serving
from tests.services.translate.conftest import settings_for
from tools.processes import NatsServer
from voka.translate.v1 import translate_pb2, translate_pb2_grpc

WRITES = 60


@pytest.fixture
async def stub(
    tokens: TokenFactory, nats: NatsServer, tmp_path: Path, database_url: str
) -> AsyncIterator[translate_pb2_grpc.TranslateServiceStub]:
    """Apertium only (no model files), on SQLite and on PostgreSQL."""
    (tmp_path / "models").mkdir()
    settings = settings_for(
        tokens, nats, tmp_path / "models", tmp_path / "data", database_url=database_url
    )
    async with serving(SPEC, settings, translate_pb2_grpc.TranslateServiceStub) as stub:
        yield stub


async def test_sixty_concurrent_history_writes_all_succeed(
    stub: translate_pb2_grpc.TranslateServiceStub, tokens: TokenFactory
) -> None:
    me = tokens.metadata(subject=f"users/{uuid.uuid4().hex[:12]}")

    async def translate(n: int) -> str:
        request = translate_pb2.TranslateTextRequest(
            text=f"The house number {n} is big.",
            source_language_code="en",
            target_language_code="es",
        )
        return str((await stub.TranslateText(request, metadata=me)).translation)

    existing = [await translate(n) for n in range(WRITES // 3)]

    def write(n: int) -> Awaitable[object]:
        if n % 3 == 0:
            return translate(WRITES + n)
        if n % 3 == 1:
            delete = translate_pb2.DeleteTranslationRequest(name=existing[n // 3])
            return stub.DeleteTranslation(delete, metadata=me)
        purge = translate_pb2.PurgeTranslationsRequest(target_language_code="it")
        return stub.PurgeTranslations(purge, metadata=me)

    assert await failures(write(n) for n in range(WRITES)) == []
    listed = await stub.ListTranslations(
        translate_pb2.ListTranslationsRequest(page_size=100), metadata=me
    )
    assert sorted(t.source_text for t in listed.translations) == sorted(
        f"The house number {WRITES + n} is big." for n in range(0, WRITES, 3)
    )
