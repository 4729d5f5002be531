"""The outbox relay's price per event against nats-py's own JetStream publish.

    PYTHONPATH=.:gen .venv/bin/python -m bench.outbox [--events 20000] [--rounds 3]
        [--database postgresql://postgres@127.0.0.1:5432/postgres]

Every event a service must not lose goes through `voka.outbox`: written with the change that
causes it, then claimed, published and marked sent by the relay. This bench prices that path
per event on a fresh nats-server (JetStream, file store) and a fresh database (a SQLite file
unless `--database` names one), in this process's CPU (every thread: the event loop, the
database's), alternating in each round:

* **nats-py, pipelined:** `JetStreamContext.publish` of the same events, 100 awaited together,
  as the relay sends a batch: the library alone, the floor.
* **outbox write:** `Outbox.add_many` of 500 events per transaction (the writers' share,
  translate's recorder being one).
* **outbox relay:** `Relay.relay()` draining those rows: claims, publishes (through
  `Bus.publish`: envelope, de-duplication id, ack), marks sent.

The relay's figure over nats-py's is what the outbox adds to each event's publish. The
nats-server's CPU, and PostgreSQL's with `--database`, are not counted: the same for every row.
`--database` takes a database of its own (the bench creates its table there and empties it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from opentelemetry import context as otel_context

from tools.processes import NatsServer
from voka import db, event_loop
from voka.auth.v1 import events_pb2
from voka.bus import Bus
from voka.outbox import Outbox, Relay, outbox_table
from voka.transactions import Transactions

PRODUCER = "bench-outbox"
WRITE_BATCH = 500
PUBLISH_BATCH = 100  # the relay's claim size
SUBJECT = "voka.auth.user.deleted"


def event(number: int) -> events_pb2.UserDeletedEvent:
    return events_pb2.UserDeletedEvent(user=f"users/u{number}", actor="users/admin")


async def _cpu_per_event(work: Callable[[], Awaitable[int]]) -> tuple[float, float]:
    """(µs of this process's CPU per event, events/s) of `work`, which returns its count."""
    cpu, wall = time.process_time(), time.perf_counter()
    count = await work()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu / count * 1e6, count / wall


async def plain(bus: Bus, events: int) -> int:
    payloads = [event(n).SerializeToString() for n in range(events)]
    for start in range(0, events, PUBLISH_BATCH):
        batch = payloads[start : start + PUBLISH_BATCH]
        await asyncio.gather(*(bus.js.publish(SUBJECT, p) for p in batch))
    return events


async def write(transactions: Transactions, outbox: Outbox, events: int) -> int:
    sessions = db.session_factory(transactions.engine)
    traced = otel_context.get_current()
    for start in range(0, events, WRITE_BATCH):
        batch = [(event(n), traced) for n in range(start, min(events, start + WRITE_BATCH))]
        async with sessions() as session, session.begin():
            await outbox.add_many(session, batch)
    return events


async def clear(transactions: Transactions) -> None:
    await transactions.write(lambda c: c.execute(outbox_table.delete()))


async def one_round(bus: Bus, transactions: Transactions, events: int) -> dict[str, float]:
    outbox = Outbox(PRODUCER)
    relay = Relay(outbox, transactions, bus)
    figures: dict[str, float] = {}
    figures["nats-py, pipelined"] = (await _cpu_per_event(lambda: plain(bus, events)))[0]
    figures["outbox write"] = (await _cpu_per_event(lambda: write(transactions, outbox, events)))[0]
    figures["outbox relay"], rate = await _cpu_per_event(relay.relay)
    figures["relay, events/s"] = rate
    await clear(transactions)
    return figures


async def run(args: argparse.Namespace, work: Path) -> list[dict[str, float]]:
    nats = NatsServer(work)
    nats.start()
    url = args.database or f"sqlite+aiosqlite:///{work / 'outbox.db'}"
    engine = db.create_engine(url)
    transactions = Transactions(engine, PRODUCER)
    try:
        await db.migrate(engine, PRODUCER)
        await clear(transactions)
        bus = await Bus.connect(nats.url, name=PRODUCER)
        try:
            await bus.ensure_stream("auth")
            await one_round(bus, transactions, min(args.events, 1000))  # warm-up
            return [await one_round(bus, transactions, args.events) for _ in range(args.rounds)]
        finally:
            await bus.close()
    finally:
        transactions.close()
        await engine.dispose()
        nats.stop()


def report(rounds: Sequence[dict[str, float]], database: str) -> str:
    lines = [f"database: {database}; µs of CPU per event, each round, then the median"]
    for name in rounds[0]:
        values = [r[name] for r in rounds]
        each = " ".join(f"{v:8.1f}" for v in values)
        lines.append(f"{name:20} {each}   median {statistics.median(values):8.1f}")
    plain_us = statistics.median(r["nats-py, pipelined"] for r in rounds)
    relay_us = statistics.median(r["outbox relay"] for r in rounds)
    lines.append(f"the relay over nats-py's publish: {relay_us / plain_us:.2f}x")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", help="a SQLAlchemy URL; a fresh SQLite file if absent")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="voka-bench-outbox-") as var:
        rounds = event_loop.run(run(args, Path(var)), "uvloop")  # as the services run
    print(report(rounds, "SQLite" if args.database is None else args.database))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
