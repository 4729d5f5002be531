"""What a translation leaves behind is committed before its answer goes (`recorder`): its
history entry is there once TranslateText returns, whatever happens to the process next; its
event waits in the outbox while NATS is down, and is published when NATS is back, even after a
restart. Overload is refused, never dropped, and one record the database refuses fails its own
call only. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from services.translate.recorder import Attempt, Recorder
from services.translate.service import SPEC
from services.translate.settings import TranslateSettings
from services.translate.store import TranslationStore
from services.translate.translator import Job, Outcome
from tests.fixtures.events import published
from tests.fixtures.tokens import TokenFactory
from tests.services.translate.conftest import settings_for
from tools.processes import NatsServer
from voka import db, errors
from voka.outbox import Outbox
from voka.server import start
from voka.transactions import Transactions
from voka.translate.v1 import events_pb2, translate_pb2, translate_pb2_grpc

HELLO = translate_pb2.TranslateTextRequest(
    text="The house is big.", source_language_code="en", target_language_code="es"
)


@pytest.fixture
def settings(
    tokens: TokenFactory, nats_server: NatsServer, tmp_path: Path, database_url: str
) -> TranslateSettings:
    """Apertium only (no model files), on this test's own NATS server."""
    (tmp_path / "models").mkdir()
    return settings_for(
        tokens, nats_server, tmp_path / "models", tmp_path / "data", database_url=database_url
    )


async def kept(settings: TranslateSettings, name: str) -> str | None:
    """The history entry `name`'s source text, read through a connection of its own."""
    engine = db.create_engine(settings.sqlalchemy_url)
    transactions = Transactions(engine, "translate")
    store = TranslationStore(transactions)
    try:
        record = await store.get(name.removeprefix("translations/"))
    finally:
        transactions.close()
        await engine.dispose()
    return None if record is None else record.source_text


async def test_a_translation_answered_while_nats_is_down_is_kept_and_announced_when_it_is_back(
    settings: TranslateSettings, nats_server: NatsServer, tokens: TokenFactory
) -> None:
    me = tokens.metadata(subject=f"users/{uuid.uuid4().hex[:12]}")
    running = await start(SPEC, settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        stub = translate_pb2_grpc.TranslateServiceStub(channel)
        await asyncio.to_thread(nats_server.stop)  # off the loop, so the client sees it go
        reply = await stub.TranslateText(HELLO, metadata=me)
        # Read before the service stops (no flush on its way out to count on).
        at_once = await kept(settings, reply.translation)
    finally:
        await channel.close()
        # The process goes before NATS is back: nothing it held in memory survives.
        await running.stop()
    assert at_once == HELLO.text
    await asyncio.to_thread(nats_server.start)
    completed = events_pb2.TranslationCompletedEvent
    async with published(nats_server.url, completed) as announced:
        running = await start(SPEC, settings)
        try:
            await announced.until(
                lambda seen: any(e.translation == reply.translation for e in seen), seconds=30
            )
        finally:
            await running.stop()
    [event] = [e for e in announced.events if e.translation == reply.translation]
    assert (event.target_language_code, event.character_count) == ("es", len(HELLO.text))


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[TranslationStore]:
    """The service's tables (migrated as at start) and its outbox, without the service."""
    engine = db.create_engine(database_url)
    await db.migrate(engine, "translate")
    transactions = Transactions(engine, "translate")
    store = TranslationStore(transactions, Outbox("translate"))
    yield store
    transactions.close()
    await engine.dispose()


def attempt(translation_id: str) -> Attempt:
    """A translated text, as the reply path hands it over."""
    job = Job(HELLO.text, "en", "es", translate_pb2.ENGINE_APERTIUM, False,
              translate_pb2.TRANSLATION_ORIGIN_SINGLE)  # fmt: skip
    outcome = Outcome("La casa es grande.", "en", "es", None, (), translate_pb2.ENGINE_APERTIUM,
                      False, 0.001)  # fmt: skip
    at = datetime.now(UTC)
    return Attempt(job, "users/ida", at, at, outcome, translation_id)


async def test_overload_is_refused_and_every_accepted_record_is_kept(
    store: TranslationStore,
) -> None:
    recorder = Recorder(store, limit=2)
    # Three calls at once: the first two wait for the commit, the third finds no room.
    answers = await asyncio.gather(
        *(recorder.record(attempt(f"t{n}")) for n in range(3)), return_exceptions=True
    )
    await recorder.close()
    assert answers[:2] == [None, None]
    refused = answers[2]
    assert isinstance(refused, errors.VokaError)
    assert refused.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [await store.get(f"t{n}") is not None for n in range(3)] == [True, True, False]


async def test_a_record_the_database_refuses_fails_its_own_call_only(
    store: TranslationStore,
) -> None:
    recorder = Recorder(store)
    await recorder.record(attempt("taken"))
    # The same history id again spoils the batch it shares with a good record.
    again, fresh = await asyncio.gather(
        recorder.record(attempt("taken")), recorder.record(attempt("fresh")),
        return_exceptions=True,
    )  # fmt: skip
    await recorder.close()
    assert isinstance(again, errors.VokaError)
    assert again.code == grpc.StatusCode.UNAVAILABLE
    assert fresh is None
    assert await store.get("fresh") is not None
