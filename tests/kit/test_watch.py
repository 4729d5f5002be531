"""voka.watch and Bus.listen against a real nats-server: the one watch-stream loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from nats.aio.msg import Msg

from tools.processes import NatsServer
from voka import watch
from voka.bus import Bus
from voka.ops.v1 import events_pb2

SUBJECT = "voka.ops.service.status_changed"


@dataclass
class Row:
    state: str
    version: int


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    connected = await Bus.connect(nats_server.url, "kit-watch-tests")
    yield connected
    await connected.close()


def watched(rows: dict[str, Row], key: str) -> watch.Watched[Row]:
    async def read() -> Row | None:
        row = rows.get(key)
        return None if row is None else Row(row.state, row.version)

    return watch.Watched(read, version=lambda r: r.version, final=lambda r: r.state == "done")


async def hint(bus: Bus, service: str) -> None:
    await bus.emit(events_pb2.ServiceStatusChangedEvent(service=service))


def concerns(msg: Msg) -> bool:
    return events_pb2.ServiceStatusChangedEvent.FromString(msg.data).service == "job-1"


async def test_listen_delivers_plain_nats_messages_until_stopped(bus: Bus) -> None:
    got: list[bytes] = []

    async def on_message(msg: Msg) -> None:
        got.append(msg.data)

    listener = await bus.listen("kit.test.>", on_message)
    await bus.nc.publish("kit.test.a", b"one")
    await bus.nc.flush()
    await asyncio.sleep(0.1)
    await listener.stop()
    await bus.nc.publish("kit.test.a", b"two")
    await bus.nc.flush()
    await asyncio.sleep(0.1)
    assert got == [b"one"]
    await listener.stop()  # stopping twice is harmless


async def test_a_hint_wakes_the_watch_long_before_the_poll(bus: Bus) -> None:
    rows = {"job-1": Row("running", 1)}
    seen: list[Row] = []

    async def follow() -> None:
        async for row in watch.changes(
            bus, SUBJECT, concerns, watched(rows, "job-1"), poll_seconds=30.0
        ):
            seen.append(row)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.2)
    rows["job-1"] = Row("done", 2)
    await hint(bus, "job-1")
    await asyncio.wait_for(follower, timeout=5.0)  # a 30 s poll would time this out
    assert [(r.state, r.version) for r in seen] == [("running", 1), ("done", 2)]


async def test_hints_about_other_records_do_not_wake_it_and_the_poll_covers_a_lost_hint(
    bus: Bus,
) -> None:
    rows = {"job-1": Row("running", 1)}
    seen: list[Row] = []
    stream = watch.changes(bus, SUBJECT, concerns, watched(rows, "job-1"), poll_seconds=0.3)
    seen.append(await anext(stream))
    rows["job-1"] = Row("running", 1)  # same version: no new item
    await hint(bus, "job-2")
    rows["job-1"] = Row("done", 2)  # changed without a hint: the poll finds it
    seen.append(await asyncio.wait_for(anext(stream), timeout=5.0))
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert [r.version for r in seen] == [1, 2]


async def test_a_record_that_goes_away_ends_the_watch(bus: Bus) -> None:
    rows = {"job-1": Row("running", 1)}
    stream = watch.changes(bus, SUBJECT, concerns, watched(rows, "job-1"), poll_seconds=0.2)
    assert (await anext(stream)).version == 1
    del rows["job-1"]
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(stream), timeout=5.0)


async def test_an_unparsable_hint_is_ignored(bus: Bus) -> None:
    rows = {"job-1": Row("running", 1)}
    stream = watch.changes(bus, SUBJECT, concerns, watched(rows, "job-1"), poll_seconds=0.2)
    await anext(stream)
    await bus.nc.publish(SUBJECT, b"\xff not protobuf")
    rows["job-1"] = Row("done", 3)
    assert (await asyncio.wait_for(anext(stream), timeout=5.0)).version == 3
