"""voka.bus against a real nats-server (fresh per test) and real databases.

The exactly-once tests crash a consumer on purpose (its handler never returns, and it is
stopped without acking, its connection closed) and restart it as a new process would: same
durable name, new connection. JetStream must redeliver, and the inbox must absorb the repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import nats.errors
import pytest
from nats.js.api import RawStreamMsg
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from sqlalchemy import Column, MetaData, String, Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from tools.processes import NatsServer
from voka import bus as voka_bus
from voka import db, inbox
from voka.bus import Bus, Event, idempotent
from voka.ops.v1 import events_pb2, ops_pb2

StatusEvent = events_pb2.ServiceStatusChangedEvent
SUBJECT = "voka.ops.service.status_changed"
DLQ = "voka.dlq." + SUBJECT
WAIT = 5.0

effects_metadata = MetaData()
# No unique constraint on purpose: a double-applied effect must show as two rows.
effects = Table(
    "kit_test_effects",
    effects_metadata,
    Column("event_id", String(64), nullable=False),
    Column("service", String(100), nullable=False),
)


def status_event(service: str = "translate") -> StatusEvent:
    return StatusEvent(
        service=service, instance="host:1", status=ops_pb2.SERVING_STATUS_SERVING, reason="ok"
    )


@pytest.fixture
async def connect(nats_server: NatsServer) -> AsyncIterator[Callable[..., Awaitable[Bus]]]:
    """Opens buses (one per simulated process) and closes whatever is left at the end."""
    opened: list[Bus] = []

    async def open_bus(name: str = "test", **options: Any) -> Bus:
        bus = await Bus.connect(nats_server.url, name, reconnect_wait=0.2, **options)
        opened.append(bus)
        return bus

    yield open_bus
    for bus in opened:
        if not bus.nc.is_closed:
            await bus.close(grace=0)


@pytest.fixture
async def bus(connect) -> Bus:
    return await connect()


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database_url)
    await db.migrate(engine, "kit-tests")
    async with engine.begin() as conn:
        await conn.run_sync(effects_metadata.create_all)
    yield engine
    await engine.dispose()


async def _effect_rows(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(effects.c.event_id))).scalars())


async def _inbox_rows(engine: AsyncEngine, consumer: str) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).where(inbox.inbox_table.c.consumer == consumer)
        return int((await conn.execute(query)).scalar_one())


async def _dead_letters(bus: Bus, count: int = 1) -> list[RawStreamMsg]:
    """Waits until the DLQ stream holds `count` messages; returns them in order."""
    async with asyncio.timeout(WAIT):
        while True:
            if (await bus.js.stream_info(voka_bus.DLQ_STREAM_NAME)).state.messages >= count:
                break
            await asyncio.sleep(0.05)
    return [await bus.js.get_msg(voka_bus.DLQ_STREAM_NAME, seq) for seq in range(1, count + 1)]


async def _settled(bus: Bus, durable: str) -> None:
    """Waits until the consumer has nothing pending or unacknowledged."""
    async with asyncio.timeout(WAIT):
        while True:
            info = await bus.js.consumer_info("VOKA_OPS", durable)
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
            await asyncio.sleep(0.05)


def apply_effect(
    sessions: async_sessionmaker[AsyncSession], consumer: str = "effects"
) -> Callable[[Event[StatusEvent]], Awaitable[None]]:
    async def write(event: Event[StatusEvent], session: AsyncSession) -> None:
        row = {"event_id": event.id, "service": event.message.service}
        await session.execute(insert(effects).values(**row))

    return idempotent(sessions, consumer, write)


async def test_publish_delivers_message_event_id_and_trace_context(bus: Bus):
    seen: asyncio.Queue[tuple[Event[StatusEvent], int]] = asyncio.Queue()

    async def handler(event: Event[StatusEvent]) -> None:
        await seen.put((event, trace.get_current_span().get_span_context().trace_id))

    await bus.subscribe(StatusEvent, "watcher", handler)
    trace_id, span_id = 0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331
    parent = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(1))
    with trace.use_span(NonRecordingSpan(parent)):
        event_id = await bus.publish(status_event("meetings"))

    event, handler_trace_id = await asyncio.wait_for(seen.get(), WAIT)
    assert event.message == status_event("meetings")
    assert event.subject == SUBJECT
    assert event.id == event_id
    assert len(event_id) == 32
    assert event.headers["Voka-Event-Id"] == event_id
    assert event.headers["Nats-Msg-Id"] == event_id
    assert event.headers["Voka-Event-Type"] == "voka.ops.v1.ServiceStatusChangedEvent"
    assert event.headers["traceparent"] == f"00-{trace_id:032x}-{span_id:016x}-01"
    assert handler_trace_id == trace_id  # the handler runs inside the publisher's trace
    assert event.delivered == 1
    await _settled(bus, "watcher")  # acked


async def test_emitted_hints_reach_consumers_with_a_lean_envelope(bus: Bus):
    seen: asyncio.Queue[Event[StatusEvent]] = asyncio.Queue()

    async def handler(event: Event[StatusEvent]) -> None:
        await seen.put(event)

    await bus.subscribe(StatusEvent, "hints", handler)
    ids = [await bus.emit(status_event("tasks")) for _ in range(3)]
    events = [await asyncio.wait_for(seen.get(), WAIT) for _ in ids]
    assert [e.id for e in events] == ids  # stored by JetStream, in order, ids unique
    assert len(set(ids)) == 3
    assert events[0].message == status_event("tasks")
    assert events[0].headers["Voka-Event-Type"] == "voka.ops.v1.ServiceStatusChangedEvent"
    assert "Nats-Msg-Id" not in events[0].headers  # never retried: nothing to de-duplicate
    await _settled(bus, "hints")


async def test_an_idle_consumer_hands_over_an_event_at_once_not_after_a_full_batch(bus: Bus):
    seen: asyncio.Queue[Event[StatusEvent]] = asyncio.Queue()

    async def handler(event: Event[StatusEvent]) -> None:
        await seen.put(event)

    await bus.subscribe(StatusEvent, "trickle", handler, batch=10, fetch_timeout=30.0)
    await asyncio.sleep(0.3)  # its fetch is waiting on the server now
    await bus.publish(status_event())
    # One event of a batch of 10: handled at once, not when 10 came or 30 s passed.
    await asyncio.wait_for(seen.get(), 2.0)
    for _ in range(3):  # and a few more, each as it comes
        await bus.publish(status_event())
        await asyncio.wait_for(seen.get(), 2.0)
    await _settled(bus, "trickle")


async def test_hints_emitted_together_arrive_each_as_its_own_event(bus: Bus):
    seen: asyncio.Queue[Event[StatusEvent]] = asyncio.Queue()

    async def handler(event: Event[StatusEvent]) -> None:
        await seen.put(event)

    await bus.subscribe(StatusEvent, "batched-hints", handler)
    await bus.emit_many([status_event(name) for name in ("tasks", "auth", "speech")])
    events = [await asyncio.wait_for(seen.get(), WAIT) for _ in range(3)]
    assert [e.message.service for e in events] == ["tasks", "auth", "speech"]  # in order
    assert len({e.id for e in events}) == 3
    assert {e.headers["Voka-Event-Type"] for e in events} == {
        "voka.ops.v1.ServiceStatusChangedEvent"
    }
    await _settled(bus, "batched-hints")


async def test_routing_suffix_reaches_only_the_matching_consumers(bus: Bus):
    seen: dict[str, asyncio.Queue[str]] = {"a": asyncio.Queue(), "any": asyncio.Queue()}

    def collect(key: str) -> Callable[[Event[StatusEvent]], Awaitable[None]]:
        async def handler(event: Event[StatusEvent]) -> None:
            await seen[key].put(event.subject)

        return handler

    await bus.subscribe(StatusEvent, "only-a", collect("a"), suffix="a")
    await bus.subscribe(StatusEvent, "every-suffix", collect("any"), suffix=">")
    await bus.publish(status_event(), suffix="b")
    await bus.publish(status_event(), suffix="a")
    assert await asyncio.wait_for(seen["a"].get(), WAIT) == SUBJECT + ".a"
    got = {await asyncio.wait_for(seen["any"].get(), WAIT) for _ in range(2)}
    assert got == {SUBJECT + ".a", SUBJECT + ".b"}
    await _settled(bus, "only-a")
    assert seen["a"].empty()
    with pytest.raises(ValueError, match="suffix"):
        await bus.publish(status_event(), suffix="a b")


async def test_message_without_subject_option_is_refused(bus: Bus):
    with pytest.raises(ValueError, match=r"no \(voka\.api\.v1\.subject\)"):
        await bus.publish(ops_pb2.GetHealthRequest(service="x"))


async def test_same_event_id_is_stored_once(bus: Bus):
    first = await bus.publish(status_event("a"), event_id="retry-42")
    second = await bus.publish(status_event("a"), event_id="retry-42")
    third = await bus.publish(status_event("a"))
    assert first == second == "retry-42"
    assert third != first
    assert (await bus.js.stream_info("VOKA_OPS")).state.messages == 2


@pytest.mark.parametrize("crash", ["after_commit", "before_commit"])
async def test_crash_before_ack_applies_effect_exactly_once(
    connect, engine: AsyncEngine, crash: str
):
    """THE guarantee: a consumer dies mid-event, before its ack; after restart the effect
    exists once, whether the crash came after the commit or before it."""
    sessions = db.session_factory(engine)
    once = apply_effect(sessions)
    reached_crash_point = asyncio.Event()

    async def crashing(event: Event[StatusEvent]) -> None:
        if crash == "after_commit":
            await once(event)  # effect committed...
        else:

            async def write_then_hang(ev: Event[StatusEvent], session: AsyncSession) -> None:
                await session.execute(insert(effects).values(event_id=ev.id, service="x"))
                reached_crash_point.set()
                await asyncio.Event().wait()  # ...dies inside the transaction

            await idempotent(sessions, "effects", write_then_hang)(event)
        reached_crash_point.set()
        await asyncio.Event().wait()  # ...dies before the ack

    first = await connect("first")
    subscription = await first.subscribe(StatusEvent, "effects", crashing, backoff=(1.0,))
    event_id = await first.publish(status_event())
    await asyncio.wait_for(reached_crash_point.wait(), WAIT)
    await subscription.stop(grace=0)  # abandon the handler: no ack, no nak
    await first.nc.close()  # the process is gone
    assert await _effect_rows(engine) == ([event_id] if crash == "after_commit" else [])

    handled: asyncio.Queue[Event[StatusEvent]] = asyncio.Queue()

    async def restarted(event: Event[StatusEvent]) -> None:
        await once(event)
        await handled.put(event)

    second = await connect("second")
    await second.subscribe(StatusEvent, "effects", restarted, backoff=(1.0,))
    redelivered = await asyncio.wait_for(handled.get(), WAIT)
    assert (redelivered.id, redelivered.delivered) == (event_id, 2)
    await _settled(second, "effects")
    assert await _effect_rows(engine) == [event_id]  # nothing lost, nothing doubled
    assert await _inbox_rows(engine, "effects") == 1


async def test_failing_handler_is_dead_lettered_after_max_deliver(bus: Bus):
    attempts: list[int] = []

    async def poison(event: Event[StatusEvent]) -> None:
        attempts.append(event.delivered)
        raise RuntimeError(f"cannot handle {event.message.service}\nsecond line")

    await bus.subscribe(StatusEvent, "fragile", poison, max_deliver=3, backoff=(0.1, 0.2))
    event_id = await bus.publish(status_event("kinect"))
    [letter] = await _dead_letters(bus)
    await _settled(bus, "fragile")
    await asyncio.sleep(0.5)  # longer than any backoff: no further attempt may come
    assert attempts == [1, 2, 3]
    assert letter.subject == DLQ
    headers = letter.headers or {}
    assert headers["Voka-Dlq-Error"] == "RuntimeError: cannot handle kinect second line"
    assert headers["Voka-Dlq-Deliveries"] == "3"
    assert headers["Voka-Dlq-Consumer"] == "fragile"
    assert headers["Voka-Dlq-Subject"] == SUBJECT
    assert headers["Voka-Event-Id"] == event_id
    assert headers["Voka-Event-Type"] == "voka.ops.v1.ServiceStatusChangedEvent"
    assert StatusEvent.FromString(letter.data or b"") == status_event("kinect")


async def test_retry_then_success_leaves_no_dead_letter(bus: Bus):
    attempts: list[int] = []
    done = asyncio.Event()

    async def flaky(event: Event[StatusEvent]) -> None:
        attempts.append(event.delivered)
        if event.delivered == 1:
            raise ConnectionError("database restarting")
        done.set()

    await bus.subscribe(StatusEvent, "flaky", flaky, backoff=(0.2,))
    await bus.publish(status_event())
    await asyncio.wait_for(done.wait(), WAIT)
    await _settled(bus, "flaky")
    assert attempts == [1, 2]
    assert (await bus.js.stream_info(voka_bus.DLQ_STREAM_NAME)).state.messages == 0


@pytest.mark.parametrize(
    ("payload", "headers", "error"),
    [
        (b"\x0a\xff\x01", {}, "is not a voka.ops.v1.ServiceStatusChangedEvent"),
        (b"", {"Voka-Event-Type": "voka.x.v1.Other"}, "event type voka.x.v1.Other"),
    ],
    ids=["unparseable", "wrong-type"],
)
async def test_poison_payload_goes_to_the_dlq_at_once(bus: Bus, payload, headers, error):
    called = []

    async def handler(event: Event[StatusEvent]) -> None:
        called.append(event)

    await bus.subscribe(StatusEvent, "strict", handler, max_deliver=5)
    await bus.js.publish(SUBJECT, payload, headers={"Voka-Event-Id": "bad-1", **headers})
    [letter] = await _dead_letters(bus)
    await _settled(bus, "strict")
    headers = letter.headers or {}
    assert error in headers["Voka-Dlq-Error"]
    assert headers["Voka-Dlq-Deliveries"] == "1"  # no retries for what can never parse
    assert headers["Voka-Event-Id"] == "bad-1"
    assert letter.data == payload or (payload == b"" and not letter.data)
    assert called == []


async def test_events_abandoned_on_every_delivery_are_dead_lettered(connect):
    """Crashes on each allowed delivery leave JetStream without a verdict; the consumer's
    MaxDeliveries advisory still lands the event in the DLQ."""
    started = asyncio.Queue[int]()

    async def hang(event: Event[StatusEvent]) -> None:
        await started.put(event.delivered)
        await asyncio.Event().wait()

    options = {"max_deliver": 2, "backoff": (0.5,)}
    publisher = await connect("publisher")
    event_id = await publisher.publish(status_event())
    for expected in (1, 2):
        process = await connect(f"crash-{expected}")
        subscription = await process.subscribe(StatusEvent, "doomed", hang, **options)
        assert await asyncio.wait_for(started.get(), WAIT) == expected
        await subscription.stop(grace=0)
    survivor = await connect("survivor")
    await survivor.subscribe(StatusEvent, "doomed", hang, **options)
    [letter] = await _dead_letters(publisher)
    headers = letter.headers or {}
    assert headers["Voka-Event-Id"] == event_id
    assert headers["Voka-Dlq-Deliveries"] == "2"
    assert "no ack after the last delivery" in headers["Voka-Dlq-Error"]
    assert started.empty()  # never handed out a third time


async def test_slow_handler_is_kept_alive_not_redelivered(bus: Bus):
    deliveries: list[int] = []
    done = asyncio.Event()

    async def slow(event: Event[StatusEvent]) -> None:
        deliveries.append(event.delivered)
        await asyncio.sleep(1.5)  # three ack deadlines
        done.set()

    await bus.subscribe(StatusEvent, "slow", slow, backoff=(0.5,), concurrency=2)
    await bus.publish(status_event())
    await asyncio.wait_for(done.wait(), WAIT)
    await _settled(bus, "slow")
    assert deliveries == [1]


async def test_no_more_handlers_than_the_concurrency_and_each_ending_one_makes_room(bus: Bus):
    running, most, seen = 0, 0, []
    release, two_running, all_seen = asyncio.Event(), asyncio.Event(), asyncio.Event()
    services = [f"s{n}" for n in range(5)]

    async def handler(event: Event[StatusEvent]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        if running == 2:
            two_running.set()
        await release.wait()
        seen.append(event.message.service)
        running -= 1
        if len(seen) == len(services):
            all_seen.set()

    await bus.subscribe(StatusEvent, "bounded", handler, concurrency=2, batch=5)
    for service in services:
        await bus.publish(status_event(service))
    await asyncio.wait_for(two_running.wait(), WAIT)
    await asyncio.sleep(0.2)  # a third would have started by now
    assert (running, seen) == (2, [])
    release.set()  # the waiting fetch loop takes the rest as the first two end
    await asyncio.wait_for(all_seen.wait(), WAIT)
    assert (most, sorted(seen)) == (2, services)


async def test_unconfirmed_acks_still_settle_every_event(bus: Bus):
    """`confirm_acks=False` only stops waiting for the server's answer: each event is handled
    once and acked, slow ones kept alive meanwhile."""
    seen: list[tuple[str, int]] = []
    done = asyncio.Event()

    async def handler(event: Event[StatusEvent]) -> None:
        seen.append((event.message.service, event.delivered))
        await asyncio.sleep(1.0 if event.message.service == "slow" else 0)  # 2 ack deadlines
        if len(seen) == 3:
            done.set()

    await bus.subscribe(StatusEvent, "unconfirmed", handler, backoff=(0.5,), confirm_acks=False)
    for service in ("translate", "slow", "speech"):
        await bus.publish(status_event(service))
    await asyncio.wait_for(done.wait(), WAIT)
    await _settled(bus, "unconfirmed")
    assert sorted(seen) == [("slow", 1), ("speech", 1), ("translate", 1)]


async def test_graceful_stop_lets_the_handler_finish_and_ack(bus: Bus):
    started, finished = asyncio.Event(), asyncio.Event()

    async def handler(event: Event[StatusEvent]) -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.set()

    subscription = await bus.subscribe(StatusEvent, "graceful", handler)
    await bus.publish(status_event())
    await asyncio.wait_for(started.wait(), WAIT)
    await subscription.stop(grace=5)
    assert finished.is_set()
    info = await bus.js.consumer_info("VOKA_OPS", "graceful")  # durable kept, event acked
    assert (info.num_ack_pending, info.num_pending, info.delivered.stream_seq) == (0, 0, 1)


async def test_stop_ends_a_fetch_loop_that_lost_its_cancellation(
    bus: Bus, monkeypatch: pytest.MonkeyPatch
):
    """asyncio.wait_for in Python 3.11 drops a cancellation that lands as its result arrives;
    a fetch loop that looped on after it kept `stop` waiting for ever."""
    subscription = await bus.subscribe(StatusEvent, "swallows", _ignore, fetch_timeout=0.2)
    fetching = asyncio.Event()

    async def fetch_swallowing_the_cancel(count: int) -> list[Any]:
        fetching.set()
        with contextlib.suppress(asyncio.CancelledError):  # as wait_for's race does
            await asyncio.sleep(0.05)
        return []

    monkeypatch.setattr(subscription, "_fetch", fetch_swallowing_the_cancel)
    await asyncio.wait_for(fetching.wait(), WAIT)
    await asyncio.wait_for(subscription.stop(grace=0), WAIT)


async def _ignore(event: Event[StatusEvent]) -> None:
    return None


async def test_consumer_resumes_after_nats_restart(connect, nats_server: NatsServer):
    bus = await connect()
    seen: asyncio.Queue[str] = asyncio.Queue()

    async def handler(event: Event[StatusEvent]) -> None:
        await seen.put(event.message.service)

    await bus.subscribe(StatusEvent, "survivor", handler, fetch_timeout=1.0)
    await bus.publish(status_event("before"))
    assert await asyncio.wait_for(seen.get(), WAIT) == "before"
    await asyncio.to_thread(nats_server.stop)  # off the loop, so the client sees it go
    assert not bus.nc.is_connected
    await asyncio.to_thread(nats_server.start)  # same ports, same store: streams and durable
    async with asyncio.timeout(WAIT):
        while True:
            if bus.nc.is_connected:
                break
            await asyncio.sleep(0.05)
    await bus.publish(status_event("after"))
    assert await asyncio.wait_for(seen.get(), WAIT) == "after"
    assert await bus.check() == "jetstream ok, 2 streams"


async def test_ensure_stream_creates_then_updates(connect):
    bus = await connect(limits=voka_bus.StreamLimits(max_age=3600))
    assert await bus.ensure_stream("meetings") == "VOKA_MEETINGS"
    assert await bus.ensure_stream("meetings") == "VOKA_MEETINGS"  # again: no error
    info = await bus.js.stream_info("VOKA_MEETINGS")
    assert info.config.subjects == ["voka.meetings.>"]
    assert (info.config.max_age, info.config.duplicate_window) == (3600, 120)
    other = await connect(limits=voka_bus.StreamLimits(max_age=7200))
    await other.ensure_stream("meetings")
    assert (await bus.js.stream_info("VOKA_MEETINGS")).config.max_age == 7200
    dlq = await bus.js.stream_info(voka_bus.DLQ_STREAM_NAME)
    assert dlq.config.subjects == ["voka.dlq.>"]
    with pytest.raises(ValueError, match="dlq"):
        await bus.ensure_stream("dlq")


async def test_a_stream_setup_whose_answer_was_lost_is_asked_again(
    connect, monkeypatch: pytest.MonkeyPatch
):
    """The create goes through, its answer does not come (as in a cluster that has just
    formed): asked again, the same create answers at once."""
    bus = await connect()
    add_stream, asked = bus._stream_admin.add_stream, []

    async def answer_lost_once(config: Any) -> Any:
        asked.append(config.name)
        created = await add_stream(config)
        if len(asked) == 1:
            raise nats.errors.TimeoutError
        return created

    monkeypatch.setattr(bus._stream_admin, "add_stream", answer_lost_once)
    assert await bus.ensure_stream("speech") == "VOKA_SPEECH"
    assert asked[:2] == ["VOKA_SPEECH", "VOKA_SPEECH"]
    assert (await bus.js.stream_info("VOKA_SPEECH")).config.subjects == ["voka.speech.>"]


async def test_closing_a_bus_whose_server_is_gone_does_not_raise(nats_server: NatsServer) -> None:
    """A service stopping during a NATS outage, with messages still buffered for the server,
    reaches the rest of its shutdown (nats-py raises ConnectionResetError flushing them)."""
    bus = await Bus.connect(nats_server.url, "closing-while-down", reconnect_wait=0.1)
    await bus.subscribe(events_pb2.ServiceStatusChangedEvent, "closing-while-down", _ignore)
    await asyncio.to_thread(nats_server.stop)
    await asyncio.sleep(0.3)  # the client notices and starts reconnecting
    await bus.nc.publish("voka.test.pending", b"waits in the reconnect buffer")
    await bus.close(grace=0)
    assert bus.nc.is_closed


async def _ignore(_event: Event[events_pb2.ServiceStatusChangedEvent]) -> None:
    return None
