"""voka.outbox against a real nats-server (fresh per test) and real SQLite and PostgreSQL: an
event exists exactly when its transaction commits, and reaches JetStream once, even when NATS
is down at the moment of the commit and comes back later."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nats.js.api import RawStreamMsg
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY
from sqlalchemy import Engine, event, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.fixtures.tokens import TokenFactory
from tests.kit import test_bus
from tools.processes import NatsServer
from voka import db
from voka.auth.v1 import events_pb2
from voka.bus import Bus
from voka.config import Settings
from voka.outbox import Outbox, Relay, outbox_table
from voka.server import Resources, ServiceSpec, start
from voka.transactions import Transactions
from voka.wellknown import utc

PRODUCER = "kit-tests"
STREAM = "VOKA_AUTH"  # UserDeletedEvent's subject is voka.auth.user.deleted
WAIT = 10.0
Sessions = async_sessionmaker[AsyncSession]
connect = test_bus.connect  # the fixture opening buses, one per simulated process


def deleted(user: str) -> events_pb2.UserDeletedEvent:
    return events_pb2.UserDeletedEvent(user=f"users/{user}", actor="users/admin")


async def _sessions(url: str) -> tuple[Any, Sessions]:
    engine = db.create_engine(url)
    await db.migrate(engine, "kit-tests")
    return engine, db.session_factory(engine)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine, factory = await _sessions(database_url)
    yield factory
    await engine.dispose()


@pytest.fixture
async def transactions(sessions: Sessions) -> AsyncIterator[Transactions]:
    """The relay's transactions on the sessions' database, as the kit's server makes them."""
    made = Transactions(sessions.kw["bind"], PRODUCER)
    yield made
    await made.aclose()


@pytest.fixture
async def bus(connect) -> Bus:
    return await _with_stream(await connect())


async def _with_stream(bus: Bus) -> Bus:
    await bus.ensure_stream("auth")
    return bus


async def _add(sessions: Sessions, outbox: Outbox, *users: str) -> list[str]:
    """One committed transaction adding an event per user; returns their ids."""
    async with sessions() as session, session.begin():
        return [await outbox.add(session, deleted(user)) for user in users]


async def _stored(bus: Bus) -> list[RawStreamMsg]:
    count = (await bus.js.stream_info(STREAM)).state.messages
    return [await bus.js.get_msg(STREAM, seq) for seq in range(1, count + 1)]


async def _rows(sessions: Sessions) -> list[Any]:
    async with sessions() as session:
        query = select(outbox_table).order_by(outbox_table.c.id)
        return list((await session.execute(query)).all())


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = WAIT) -> None:
    async with asyncio.timeout(seconds):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


def _gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"producer": PRODUCER})


async def test_an_event_whose_transaction_rolls_back_is_never_published(
    sessions, transactions, bus: Bus
):
    outbox = Outbox(PRODUCER)

    async def change_then_fail() -> None:
        async with sessions() as session, session.begin():
            await outbox.add(session, deleted("ann"))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        await change_then_fail()
    assert await Relay(outbox, transactions, bus).relay() == 0
    assert await _rows(sessions) == []
    assert await _stored(bus) == []


async def test_a_committed_event_is_published_at_once_with_its_id_and_trace(
    sessions, transactions, bus: Bus
):
    outbox = Outbox(PRODUCER)
    relay = Relay(outbox, transactions, bus, poll_seconds=60.0)  # only the commit can wake it
    await relay.start()
    try:
        trace_id, span_id = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
        parent = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1))
        with trace.use_span(NonRecordingSpan(parent)):
            [event_id] = await _add(sessions, outbox, "ann")
        await _until(lambda: _published(bus, 1), seconds=2.0)
    finally:
        await relay.stop()
    [stored] = await _stored(bus)
    assert stored.subject == "voka.auth.user.deleted"
    assert events_pb2.UserDeletedEvent.FromString(stored.data or b"") == deleted("ann")
    headers = stored.headers or {}
    assert headers["Nats-Msg-Id"] == headers["Voka-Event-Id"] == event_id
    assert headers["traceparent"] == f"00-{trace_id:032x}-{span_id:016x}-01"
    [row] = await _rows(sessions)
    assert row.sent_at is not None
    assert row.attempts == 0


async def _published(bus: Bus, count: int) -> bool:
    return (await bus.js.stream_info(STREAM)).state.messages >= count


async def test_an_event_keeps_its_own_trace_whatever_the_relays_context(
    sessions, transactions, bus: Bus
):
    """The relay passes on the trace stored with the row, even when it runs inside another."""
    outbox = Outbox(PRODUCER)
    mine = SpanContext(0x1F, 0x2F, is_remote=False, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(mine)):
        await _add(sessions, outbox, "ann")
    other = SpanContext(0x3F, 0x4F, is_remote=False, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(other)):
        assert await Relay(outbox, transactions, bus).relay() == 1
    [stored] = await _stored(bus)
    assert (stored.headers or {})["traceparent"] == f"00-{0x1F:032x}-{0x2F:016x}-01"


async def test_nats_down_at_commit_then_back_the_event_arrives_once(
    sessions, transactions, bus: Bus, nats_server: NatsServer
):
    outbox = Outbox(PRODUCER)
    relay = Relay(outbox, transactions, bus, retry_seconds=(0.2, 0.5), publish_timeout=1.0)
    await relay.start()
    try:
        await asyncio.to_thread(nats_server.stop)  # off the loop, so the client sees it go
        [event_id] = await _add(sessions, outbox, "ann")

        async def tried() -> bool:
            return any(row.attempts > 0 for row in await _rows(sessions))

        await _until(tried)
        [row] = await _rows(sessions)
        assert row.sent_at is None
        assert row.last_error
        backlog = await relay.backlog()
        assert backlog.pending == 1
        assert _gauge("voka_outbox_pending") == 1
        assert (_gauge("voka_outbox_oldest_pending_seconds") or 0) > 0

        await asyncio.to_thread(nats_server.start)  # same store: the stream is still there

        async def sent() -> bool:
            return all(row.sent_at is not None for row in await _rows(sessions))

        await _until(sent)
        assert (await relay.backlog()).pending == 0
        assert _gauge("voka_outbox_pending") == 0
        assert _gauge("voka_outbox_oldest_pending_seconds") == 0
    finally:
        await relay.stop()
    # Attempts made while NATS was down may still reach it on reconnect: Nats-Msg-Id makes
    # them one stored event.
    [stored] = await _stored(bus)
    assert (stored.headers or {})["Nats-Msg-Id"] == event_id


async def test_events_leave_oldest_first_in_bounded_batches(sessions, transactions, bus: Bus):
    outbox = Outbox(PRODUCER)
    ids = [event_id for user in "abcde" for event_id in await _add(sessions, outbox, user)]
    published: list[str] = []
    original = bus.publish

    async def publish(message: Any, **options: Any) -> str:
        published.append(options["event_id"])
        return await original(message, **options)

    bus.publish = publish  # type: ignore[method-assign]
    assert await Relay(outbox, transactions, bus, batch=2).relay() == 5
    assert published == ids
    assert [(m.headers or {})["Nats-Msg-Id"] for m in await _stored(bus)] == ids


async def test_a_relay_publishes_its_own_services_events_only(sessions, transactions, bus: Bus):
    await _add(sessions, Outbox("other-service"), "ann")
    assert await Relay(Outbox(PRODUCER), transactions, bus).relay() == 0
    assert await _stored(bus) == []


async def test_two_relays_publish_each_event_once(database_url: str, connect):
    """Two replicas: their own engine, bus and relay each, draining one table together."""
    replicas: list[tuple[Any, Transactions, Relay]] = []
    calls: Counter[str] = Counter()
    for name in ("first", "second"):
        engine, _ = await _sessions(database_url)
        bus = await _with_stream(await connect(name))
        original = bus.publish

        async def publish(message: Any, _original: Any = original, **options: Any) -> str:
            calls[options["event_id"]] += 1
            return str(await _original(message, **options))

        bus.publish = publish  # type: ignore[method-assign]
        transactions = Transactions(engine, name)
        replicas.append((engine, transactions, Relay(Outbox(PRODUCER), transactions, bus, batch=7)))
    try:
        writer = Outbox(PRODUCER)
        ids: list[str] = []
        for start_at in range(0, 120, 10):
            users = [f"u{n}" for n in range(start_at, start_at + 10)]
            ids += await _add(db.session_factory(replicas[0][0]), writer, *users)
        counts = await asyncio.gather(*(relay.relay() for _, _, relay in replicas * 2))
        assert sum(counts) == 120
        first, second = counts[0] + counts[2], counts[1] + counts[3]
        assert first > 0
        assert second > 0  # both relays took part
        assert sorted(calls) == sorted(ids)
        assert set(calls.values()) == {1}  # no event handed to NATS twice
        stored = await _stored(bus)
        assert sorted((m.headers or {})["Nats-Msg-Id"] for m in stored) == sorted(ids)
    finally:
        for engine, transactions, _ in replicas:
            transactions.close()
            await engine.dispose()


async def test_sent_rows_are_pruned_after_the_retention_and_pending_ones_kept(
    sessions, transactions, bus: Bus
):
    outbox = Outbox(PRODUCER)
    relay = Relay(outbox, transactions, bus, retention=timedelta(hours=1))
    old1, old2, recent = await _add(sessions, outbox, "old1", "old2", "recent")
    assert await relay.relay() == 3
    [waiting] = await _add(sessions, outbox, "waiting")  # not relayed: pending
    long_ago = datetime.now(UTC) - timedelta(days=2)
    async with sessions() as session, session.begin():
        await session.execute(
            update(outbox_table)
            .where(outbox_table.c.event_id.in_([old1, old2, waiting]))
            .values(created_at=long_ago)
        )
        await session.execute(
            update(outbox_table)
            .where(outbox_table.c.event_id.in_([old1, old2]))
            .values(sent_at=long_ago)
        )
    assert await relay.prune() == 2
    assert [row.event_id for row in await _rows(sessions)] == [recent, waiting]


async def test_retries_back_off_doubling_up_to_a_cap(transactions, bus: Bus):
    relay = Relay(Outbox(PRODUCER), transactions, bus, retry_seconds=(0.5, 30.0))
    assert [relay.retry_delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert relay.retry_delay(10_000) == 30


async def test_bad_event_ids_and_suffixes_are_refused_when_written(sessions):
    outbox = Outbox(PRODUCER)
    async with sessions() as session, session.begin():
        with pytest.raises(ValueError, match="event_id"):
            await outbox.add(session, deleted("ann"), event_id="has space")
        with pytest.raises(ValueError, match="suffix"):
            await outbox.add(session, deleted("ann"), suffix="a..b")
    assert await _rows(sessions) == []


async def test_the_server_runs_a_relay_for_a_service_with_a_database_and_a_bus(
    tokens: TokenFactory, nats_server: NatsServer, bus: Bus, tmp_path: Path
):
    async def build(resources: Resources) -> list[Any]:
        assert resources.outbox is not None
        assert resources.sessions is not None
        async with resources.sessions() as session, session.begin():
            await resources.outbox.add(session, deleted("ann"))
        return []

    settings = Settings(port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file,
                        nats_url=nats_server.url)  # fmt: skip
    running = await start(ServiceSpec(name="ops", build=build, database=True), settings)
    try:
        await _until(lambda: _published(bus, 1))
    finally:
        await running.stop()
    [stored] = await _stored(bus)
    assert (stored.headers or {})["Voka-Producer"] == "voka-ops"


async def test_stopping_a_busy_relay_never_hangs(sessions, transactions, bus: Bus):
    """Stopped while busy, a relay ends its round and stops, and leaves the database free for
    the next writer."""
    outbox = Outbox(PRODUCER)
    for round_ in range(20):
        relay = Relay(outbox, transactions, bus, poll_seconds=0.001)
        await relay.start()
        await _add(sessions, outbox, f"user{round_}")
        await asyncio.sleep(0.002 * round_)
        async with asyncio.timeout(5):
            await relay.stop()


async def test_a_relay_cancelled_mid_statement_stops_all_the_same(sessions, transactions, bus: Bus):
    """Cancelled mid-statement (no grace), a relay stops at once, wherever it was. On SQLite
    a transaction already in the writer thread finishes there; on PostgreSQL it rolls back
    with nothing held (voka.db). Either way the next writer finds the database free and the
    rows go out later."""
    outbox = Outbox(PRODUCER)
    await _add(sessions, outbox, *(f"user{n}" for n in range(20)))
    for round_ in range(20):
        relay = Relay(outbox, transactions, bus, poll_seconds=0.001)
        await relay.start()
        await asyncio.sleep(0.002 * round_)
        async with asyncio.timeout(5):
            await relay.stop(grace=0)
    async with asyncio.timeout(5):  # no connection was left holding the write lock
        await _add(sessions, outbox, "after")
    assert await Relay(outbox, transactions, bus).relay() >= 1


async def test_events_added_at_once_each_keep_the_trace_given_with_them(
    sessions, transactions, bus: Bus
):
    """`add_many`, for a writer committing the work of many calls: one statement, and each
    event joins the trace of its own call, not the writer's."""
    outbox = Outbox(PRODUCER)
    traces = [0x0AF7651916CD43DD8448EB211C80319C + n for n in range(2)]
    events = []
    for user, trace_id in zip(("ann", "bob"), traces, strict=True):
        span = SpanContext(trace_id, 0xB7AD6B7169203331, is_remote=False, trace_flags=TraceFlags(1))
        events.append((deleted(user), trace.set_span_in_context(NonRecordingSpan(span))))
    async with sessions() as session, session.begin():
        await outbox.add_many(session, events)
    assert await Relay(outbox, transactions, bus).relay() == 2
    stored = await _stored(bus)
    assert [events_pb2.UserDeletedEvent.FromString(s.data or b"").user for s in stored] == [
        "users/ann",
        "users/bob",
    ]
    assert [(s.headers or {})["traceparent"].split("-")[1] for s in stored] == [
        f"{trace_id:032x}" for trace_id in traces
    ]


async def test_a_batch_goes_out_without_an_ack_wait_per_event_and_is_marked_sent_at_once(
    sessions, transactions, bus: Bus
):
    """One round for a batch: after the first event (alone, as it may set up the stream), the
    rest are all written before any ack comes back, JetStream stores them in order, and one
    statement marks them all sent."""
    outbox = Outbox(PRODUCER)
    ids = await _add(sessions, outbox, *(f"u{n}" for n in range(20)))
    in_flight, most = 0, 0
    original = bus.publish

    async def publish(message: Any, **options: Any) -> str:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            return str(await original(message, **options))
        finally:
            in_flight -= 1

    bus.publish = publish  # type: ignore[method-assign]
    marks: list[str] = []

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.startswith("UPDATE voka_outbox SET sent_at"):
            marks.append(sql)

    # Every engine: on SQLite the relay's transactions run on a synchronous engine of their own.
    event.listen(Engine, "before_cursor_execute", statement)
    try:
        assert await Relay(outbox, transactions, bus).relay() == 20
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
    assert most == 19
    assert len(marks) == 1
    assert [(m.headers or {})["Nats-Msg-Id"] for m in await _stored(bus)] == ids
    assert all(row.sent_at is not None for row in await _rows(sessions))


async def test_the_relay_writes_in_the_services_transactions(sessions, transactions, bus: Bus):
    """On SQLite the relay's claim and mark run in the service's writer thread, taking turns
    with its hot writes there (voka.transactions) instead of waiting in SQLite's busy handler
    for them; on PostgreSQL on the event loop's own connections."""
    outbox = Outbox(PRODUCER)
    await _add(sessions, outbox, "ann")
    threads: set[str] = set()

    def statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if sql.startswith("UPDATE voka_outbox"):
            threads.add(threading.current_thread().name)

    event.listen(Engine, "before_cursor_execute", statement)
    try:
        assert await Relay(outbox, transactions, bus).relay() == 1
    finally:
        event.remove(Engine, "before_cursor_execute", statement)
    on_sqlite = transactions.engine.dialect.name == "sqlite"
    assert threads == {f"{PRODUCER}-sqlite_0" if on_sqlite else threading.current_thread().name}


async def test_an_event_refused_in_a_batch_waits_for_its_retry_alone(
    sessions, transactions, bus: Bus
):
    """The rows acked around a refused one are stored and marked sent; the refused one gets its
    attempt counted, its error and its backoff."""
    outbox = Outbox(PRODUCER)
    ids = await _add(sessions, outbox, *(f"u{n}" for n in range(6)))
    refused = ids[3]
    original = bus.publish

    async def publish(message: Any, **options: Any) -> str:
        if options["event_id"] == refused:
            raise ConnectionError("refused by the test")
        return str(await original(message, **options))

    bus.publish = publish  # type: ignore[method-assign]
    relay = Relay(outbox, transactions, bus, retry_seconds=(30.0, 60.0))
    assert await relay.relay() == 5
    rows = {row.event_id: row for row in await _rows(sessions)}
    assert rows[refused].sent_at is None
    assert rows[refused].attempts == 1
    assert "refused by the test" in rows[refused].last_error
    assert utc(rows[refused].next_attempt_at) > datetime.now(UTC) + timedelta(seconds=20)
    others = [event_id for event_id in ids if event_id != refused]
    assert all(rows[event_id].sent_at is not None for event_id in others)
    assert [(m.headers or {})["Nats-Msg-Id"] for m in await _stored(bus)] == others
    assert (await relay.backlog()).pending == 1
