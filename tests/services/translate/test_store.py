"""The translate tables on SQLite and PostgreSQL: migrations, history pages, purge, stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.translate.records import TranslationRecord, UsageRecord
from services.translate.store import NEWEST_FIRST, Filter, TranslationStore
from voka import db, pagination
from voka.transactions import Transactions

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def history(i: int, owner: str, target: str = "es") -> TranslationRecord:
    return TranslationRecord(
        id=f"t{i:03d}",
        owner=owner,
        source_text=f"text {i}",
        translated_text="x",
        source_language_code="en",
        detected_language_code=None,
        detected_confidence=None,
        target_language_code=target,
        engine=3,
        legs=[{"model": "apertium eng-spa"}],
        character_count=6,
        cached=False,
        latency_ms=10.0,
        origin=1,
        create_time=NOW + timedelta(seconds=i),
    )


def usage(owner: str, latency: float, *, failed: bool = False) -> UsageRecord:
    return UsageRecord(
        owner=owner,
        source_language_code="en",
        target_language_code="es",
        engine=3,
        character_count=5,
        cached=False,
        failed=failed,
        latency_ms=latency,
        create_time=NOW,
    )


async def test_history_pages_purge_and_stats(database_url: str):
    await db.migrate(database_url, "translate")
    engine = db.create_engine(database_url)
    transactions = Transactions(engine, "translate")
    store = TranslationStore(transactions)
    try:
        await store.add(
            [history(i, "users/a", "es" if i % 2 else "fr") for i in range(5)]
            + [history(9, "users/b")],
            [usage("users/a", float(ms)) for ms in range(1, 21)]
            + [usage("users/a", 999.0, failed=True)],
        )
        first = await store.page(Filter("users/a"), pagination.Page(2))
        assert first.total == 5
        assert [r.id for r in first.items] == ["t004", "t003"]  # newest first
        assert first.items[0].create_time.replace(tzinfo=UTC) == NOW + timedelta(seconds=4)
        spanish = await store.page(Filter("users/a", target="es"), pagination.Page(50))
        assert spanish.total == 2
        totals, groups = await store.stats(Filter("users/a"))
        assert (totals.requests, totals.errors, totals.characters) == (21, 1, 105)
        assert totals.p95_ms == 19.0
        assert totals.mean_ms == 10.5
        assert list(groups) == [("en", "es", 3)]
        assert await store.purge(Filter("users/a"), validate_only=True) == 5
        assert await store.purge(Filter("users/a", target="fr"), False) == 3
        assert (await store.page(Filter(None), pagination.Page(50))).total == 3
    finally:
        transactions.close()
        await engine.dispose()


async def test_keyset_pages_continue_after_the_last_row(database_url: str):
    """Each page starts strictly after the previous one's last row, even when rows share a
    creation time (the id breaks the tie), and rows added meanwhile do not shift the pages."""
    await db.migrate(database_url, "translate")
    engine = db.create_engine(database_url)
    transactions = Transactions(engine, "translate")
    store = TranslationStore(transactions)
    owner = "users/keyset"
    same_time = [
        TranslationRecord(**{**vars(history(i, owner)), "create_time": NOW}) for i in range(3)
    ]
    try:
        await store.add([*same_time, history(10, owner), history(11, owner)], [])
        listing = await store.page(Filter(owner), pagination.Page(2))
        seen = [r.id for r in listing.items]
        await store.add([history(12, owner)], [])  # newer than the pages shown: no shift
        while token := pagination.next_token(NEWEST_FIRST, "q", listing):
            cursor, bad = pagination.decode_token(token, NEWEST_FIRST, "q")
            assert not bad
            listing = await store.page(Filter(owner), pagination.Page(2, cursor))
            seen += [r.id for r in listing.items]
        assert seen == ["t011", "t010", "t002", "t001", "t000"]
    finally:
        transactions.close()
        await engine.dispose()
