"""The translate tables on SQLite and PostgreSQL: migrations, history pages, purge, stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.translate import store
from voka import db

pytestmark = pytest.mark.integration
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def history(i: int, owner: str, target: str = "es") -> dict[str, object]:
    return {
        "id": f"t{i:03d}",
        "owner": owner,
        "source_text": f"text {i}",
        "translated_text": "x",
        "source_language_code": "en",
        "detected_language_code": None,
        "detected_confidence": None,
        "target_language_code": target,
        "engine": 3,
        "legs": [{"model": "apertium eng-spa"}],
        "character_count": 6,
        "cached": False,
        "latency_ms": 10.0,
        "origin": 1,
        "create_time": NOW + timedelta(seconds=i),
    }


def usage(owner: str, latency: float, *, failed: bool = False) -> dict[str, object]:
    return {
        "owner": owner,
        "source_language_code": "en",
        "target_language_code": "es",
        "engine": 3,
        "character_count": 5,
        "cached": False,
        "failed": failed,
        "latency_ms": latency,
        "create_time": NOW,
    }


async def test_history_pages_purge_and_stats(database_url: str):
    await db.migrate(database_url, "translate")
    engine = db.create_engine(database_url)
    sessions = db.session_factory(engine)
    try:
        async with sessions.begin() as session:
            await store.add(
                session,
                [history(i, "users/a", "es" if i % 2 else "fr") for i in range(5)]
                + [history(9, "users/b")],
                [usage("users/a", float(ms)) for ms in range(1, 21)]
                + [usage("users/a", 999.0, failed=True)],
            )
        async with sessions() as session:
            rows, total = await store.page(session, store.Filter("users/a"), 0, 2)
            assert total == 5
            assert [r["id"] for r in rows] == ["t004", "t003"]  # newest first
            assert rows[0]["create_time"].replace(tzinfo=UTC) == NOW + timedelta(seconds=4)
            spanish = await store.page(session, store.Filter("users/a", target="es"), 0, 50)
            assert spanish[1] == 2
            totals, groups = await store.stats(session, store.Filter("users/a"))
        assert (totals.requests, totals.errors, totals.characters) == (21, 1, 105)
        assert totals.p95_ms == 19.0
        assert totals.mean_ms == 10.5
        assert list(groups) == [("en", "es", 3)]
        async with sessions.begin() as session:
            assert await store.purge(session, store.Filter("users/a"), validate_only=True) == 5
            assert await store.purge(session, store.Filter("users/a", target="fr"), False) == 3
        async with sessions() as session:
            assert (await store.page(session, store.Filter(None), 0, 50))[1] == 3
    finally:
        await engine.dispose()
