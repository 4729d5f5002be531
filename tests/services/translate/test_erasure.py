"""A deleted account's history and usage go when auth announces the deletion on NATS; other
users keep theirs."""

from __future__ import annotations

import uuid

from tests.fixtures.nats import announce_user_deleted
from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tools.processes import NatsServer
from voka.translate.v1 import translate_pb2, translate_pb2_grpc


async def test_deleted_user_history_and_stats_are_erased(
    stub: translate_pb2_grpc.TranslateServiceStub, tokens: TokenFactory, nats: NatsServer
) -> None:
    gone, stays = (f"users/{uuid.uuid4().hex[:12]}" for _ in range(2))
    request = translate_pb2.TranslateTextRequest(
        text="Good morning.", source_language_code="en", target_language_code="es"
    )
    for owner in (gone, stays):
        await stub.TranslateText(request, metadata=tokens.metadata(subject=owner))

    await announce_user_deleted(nats.url, gone)

    async def history(owner: str) -> int:
        listed = await stub.ListTranslations(
            translate_pb2.ListTranslationsRequest(), metadata=tokens.metadata(subject=owner)
        )
        return listed.total_size

    async def erased() -> bool:
        return await history(gone) == 0

    await eventually(erased)
    stats = await stub.GetTranslationStats(
        translate_pb2.GetTranslationStatsRequest(), metadata=tokens.metadata(subject=gone)
    )
    assert stats.stats.request_count == 0
    assert await history(stays) == 1
