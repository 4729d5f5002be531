"""The transactional outbox: an event that must not be lost commits with the change that causes
it, and a relay publishes it to JetStream, retrying until JetStream acks it.

Publishing after the commit loses the event when NATS is unreachable or the process dies in
between; publishing before it announces a change that may still roll back. Written as a row in
the change's own transaction, the event exists exactly when the change does. The relay publishes
each row through `Bus.publish` with `Nats-Msg-Id` = the event id, so a row published again
(the relay died before marking it sent, or its claim ran out) is stored once by JetStream, and
consumers stay idempotent through `voka.inbox` beyond JetStream's duplicate window.

* `Outbox.add(session, message)` writes the row in the caller's transaction and wakes this
  process's relay when that transaction commits: an event leaves within milliseconds, not at
  the next poll. `add_many` writes many in one statement, for a writer that commits the work
  of many calls at once.
* `Relay` claims due rows oldest first, in bounded batches, publishes them and marks them sent.
  A failed publish is retried with capped exponential backoff for as long as it takes: the
  `voka_outbox_pending` and `voka_outbox_oldest_pending_seconds` gauges are what an alert
  watches. A slow poll is the back-up, for rows whose retry fell due and rows a dead relay
  held.
* The relay's transactions go through the service's `voka.transactions.Transactions`: on
  SQLite they run in the thread the service's hot writes run in, so neither sleeps in
  SQLite's busy handler while the other holds the lock (an aiosqlite session held it across
  several hops of the event loop, and translate's history writes waited for it, 1 ms and more
  a time), and a round's transaction is one thread hop, not one per statement.
* A round costs about the same for one event as for a batch (a claim, a settle, a count: each
  a transaction, and on SQLite one write lock with the service's own writes). A round per
  event took a cached TranslateText from 1.4 to 5.1 ms p50. So rounds carry batches: a round
  starts at once after a quiet spell, but no sooner than `ROUND_SECONDS` after the previous
  one, and takes whatever committed meanwhile; it publishes the batch's rows without waiting
  for each ack before sending the next (one connection writes them in order, JetStream stores
  them in that order), marks every acked row sent in one statement, and counts the backlog
  only when something waits for later (a retry, rows another replica holds) or once a second
  for the gauges.
* A claim is a lease: one `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED)` moves
  the rows' next attempt past the lease, so relays of several replicas on PostgreSQL take
  disjoint rows without holding a transaction open while they publish, and rows claimed by a
  relay that died come due again when its lease ends. SQLite has a single writer, which
  serialises the same statement (SQLAlchemy renders no FOR UPDATE there).
* Sent rows are pruned after a retention, so the table stays as small as the recent traffic.

Home-made, not a library: the outbox packages on PyPI are young single-author projects, each
with its own table, migrations and broker client. This is one table in the kit's migrations and
three statements in the service's transactions, handing the publishing itself (envelope,
de-duplication id, ack wait) to `voka.bus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from opentelemetry import context as otel_context
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    Update,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from voka import bus as voka_bus
from voka import telemetry
from voka.bus import Bus, domain_of, subject_of
from voka.db import after_commit
from voka.transactions import Transactions
from voka.wellknown import utc

log = logging.getLogger("voka.outbox")
Row = dict[str, Any]  # an outbox row's columns, ready to insert

BATCH = 100
POLL_SECONDS = 5.0
# The least time between the starts of two rounds: under steady traffic an event waits for
# the next round up to this long, and the events committed meanwhile share it.
ROUND_SECONDS = 0.05
COUNT_EVERY_SECONDS = 1.0  # the gauges' freshness when every round left nothing behind
SETTLE_WAIT_SECONDS = 2.0  # how long `stop` waits for the last round's record
# How long `stop` lets a round in progress finish before cancelling it: a finished round
# records what it sent; a cancelled one leaves the rows it claimed and did not publish to come
# due again when their lease ends.
STOP_GRACE_SECONDS = 1.0
LEASE_SECONDS = 60.0  # under JetStream's duplicate window (120 s): a re-claim stays a duplicate
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 30.0
PUBLISH_TIMEOUT = 10.0  # seconds for one row, over Bus.publish's own attempts
RETENTION = timedelta(days=1)
PRUNE_EVERY_SECONDS = 600.0
_ERROR_CHARS = 1000

PENDING = Gauge(
    "voka_outbox_pending",
    "Outbox events written but not yet acknowledged by JetStream.",
    ["producer"],
)
OLDEST_PENDING = Gauge(
    "voka_outbox_oldest_pending_seconds",
    "Age of the oldest outbox event not yet acknowledged by JetStream (0: none pending).",
    ["producer"],
)
RELAYED = Counter(
    "voka_outbox_relayed",
    "Outbox rows the relay tried to publish, by result: sent, failed.",
    ["producer", "result"],
)

metadata = MetaData()

# Mirrors voka/migrations/versions/0002_voka_outbox.py; the migration is what creates it.
outbox_table = Table(
    "voka_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("producer", String(200), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("suffix", String(200), nullable=False),
    Column("payload", LargeBinary(), nullable=False),
    Column("headers", Text(), nullable=False),  # JSON object: caller's headers, trace context
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("attempts", Integer(), nullable=False),
    Column("last_error", Text(), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("producer", "event_id", name="uq_voka_outbox_event"),
    Index("ix_voka_outbox_sent_at", "sent_at"),
)
_pending = outbox_table.c.sent_at.is_(None)
Index(
    "ix_voka_outbox_pending", outbox_table.c.producer, outbox_table.c.id,
    postgresql_where=_pending, sqlite_where=_pending,
)  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


class Outbox:
    """Where one service writes the events it must not lose (`producer` is its domain name).

    The kit's server makes one per service that has a database and a bus
    (`Resources.outbox`) and runs its `Relay`."""

    def __init__(self, producer: str) -> None:
        self.producer = producer
        self._wake = asyncio.Event()

    async def add(
        self,
        session: AsyncSession,
        message: Message,
        *,
        event_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        suffix: str = "",
    ) -> str:
        """Write `message` as an event in the caller's transaction; returns its event id.

        Nothing is published unless that transaction commits; once it commits, the relay
        publishes the event (subject from its type, `suffix` as for `Bus.publish`) until
        JetStream acks it. An `event_id` is used once per producer (a repeat fails the
        transaction); without one, a new id is made. The current trace context travels with
        the row, so the consumers' spans join the request that caused the event."""
        row = self._row(message, event_id, headers, suffix, _now())
        await session.execute(insert(outbox_table).values(**row))
        after_commit(session, self._committed)
        return str(row["event_id"])

    async def add_many(
        self, session: AsyncSession, events: Sequence[tuple[Message, otel_context.Context]]
    ) -> None:
        """`add` for many events in one statement, each with a new id and the trace context
        given with it (that of the call it reports, where one writer commits many calls)."""
        if rows := self.rows_of(events):
            await session.execute(insert(outbox_table), rows)
            after_commit(session, self._committed)

    def rows_of(self, events: Sequence[tuple[Message, otel_context.Context]]) -> list[Row]:
        """`add_many`'s rows, for a transaction on a synchronous connection
        (`voka.transactions`), which writes them with `write_rows`; built on the event loop's
        thread, where each event's trace context is at hand."""
        now = _now()
        return [self._row(message, None, None, "", now, trace=trace) for message, trace in events]

    @staticmethod
    def write_rows(connection: Connection, rows: Sequence[Row]) -> None:
        """`rows_of`'s rows in the caller's synchronous transaction; once it has committed,
        the caller calls `wake` (no session is there to tell the relay)."""
        if rows:
            connection.execute(insert(outbox_table), rows)

    def _row(
        self, message: Message, event_id: str | None, headers: Mapping[str, str] | None,
        suffix: str, now: datetime, *, trace: otel_context.Context | None = None,
    ) -> Row:  # fmt: skip
        """`trace`: the context the event belongs to (None: the current one)."""
        event_id = event_id or uuid.uuid4().hex
        # The bus's own rules, checked now: a row the bus would refuse must not wait for ever.
        if not voka_bus._EVENT_ID.match(event_id):
            raise ValueError("event_id: 1-64 printable ASCII characters, no spaces")
        voka_bus._with_suffix(subject_of(type(message)), suffix)
        return {
            "event_id": event_id,
            "producer": self.producer,
            "event_type": message.DESCRIPTOR.full_name,
            "suffix": suffix,
            "payload": message.SerializeToString(),
            "headers": json.dumps({**(headers or {}), **telemetry.inject(context=trace)}),
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        }

    def _committed(self, _session: Session) -> None:
        # SQLAlchemy's asyncio runs this in the event loop's thread (in a greenlet).
        self.wake()

    def wake(self) -> None:
        """End the relays' wait now (a commit that added events, a stopping relay)."""
        self._wake.set()

    async def woken(self, seconds: float, not_before: float = 0.0) -> None:
        """Until a transaction that added an event commits, or `seconds` have passed, and
        not before `time.monotonic()` reaches `not_before` (the commits meanwhile are in the
        same round)."""
        # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
        # comes as its timeout expires, and the relay would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()
        if (pause := not_before - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        self._wake.clear()  # what committed until now, the round about to start claims


@dataclass(frozen=True)
class Backlog:
    """The unsent rows of a producer: what the gauges show, when the next is due, and when the
    last is (past `next_due`, rows wait for a retry or for another replica's lease)."""

    pending: int
    oldest: datetime | None
    next_due: datetime | None
    last_due: datetime | None = None


class Relay:
    """Publishes an `Outbox`'s committed events to JetStream, oldest first, until acked.

    Safe to run in every replica at once (claims are leases taken with SKIP LOCKED)."""

    def __init__(
        self,
        outbox: Outbox,
        transactions: Transactions,
        bus: Bus,
        *,
        batch: int = BATCH,
        poll_seconds: float = POLL_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        retry_seconds: tuple[float, float] = (FIRST_RETRY_SECONDS, MAX_RETRY_SECONDS),
        publish_timeout: float = PUBLISH_TIMEOUT,
        retention: timedelta = RETENTION,
        prune_every_seconds: float = PRUNE_EVERY_SECONDS,
        round_seconds: float = ROUND_SECONDS,
    ) -> None:
        self._outbox = outbox
        self._producer = outbox.producer
        self._transactions = transactions
        self._bus = bus
        self._batch = batch
        self._poll = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self._retry = retry_seconds
        self._publish_timeout = publish_timeout
        self._retention = retention
        self._prune_every = prune_every_seconds
        self._round = round_seconds
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Whether unsent rows may wait that only a count of the backlog finds (a failed
        # publish's retry, rows another replica holds): then every round counts.
        self._maybe_left = True
        # Domains this relay has published to: their stream and reply inbox are set up, so
        # their rows can be pipelined (see _runs).
        self._ready_domains: set[str] = set()
        self._settling: asyncio.Future[None] | None = None  # the round's record of what was sent
        self._claiming = _claim_statement(self._producer, batch)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox:{self._producer}")

    async def stop(self, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop relaying: the round in progress may finish within `grace`, then the relay is
        cancelled wherever it is. Rows claimed and not yet published come due again when their
        lease ends (in this process after a restart, or in another replica); what was
        published is recorded before this returns."""
        if self._task is not None:
            # The flag first: the loop ends after its round, and a library that swallows the
            # cancellation mid-statement must not keep it going.
            self._stopping = True
            self._outbox.wake()
            if not (await asyncio.wait({self._task}, timeout=grace))[0]:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._settling is not None:  # shielded from the cancellation: it runs on (bounded)
            await asyncio.wait({self._settling}, timeout=SETTLE_WAIT_SECONDS)

    async def _run(self) -> None:
        pruned_at, counted_at = -self._prune_every, -COUNT_EVERY_SECONDS
        while not self._stopping:
            wait, started = self._poll, time.monotonic()
            try:
                await self.relay()
                if time.monotonic() - pruned_at >= self._prune_every:
                    await self.prune()
                    pruned_at = time.monotonic()
                if self._maybe_left or time.monotonic() - counted_at >= COUNT_EVERY_SECONDS:
                    wait = self._until_due(await self.backlog())
                    counted_at = time.monotonic()
            except Exception:
                if self._stopping:  # cancelled mid-statement, a session may raise another error
                    raise
                # The database is unreachable, for instance: the rows wait in it meanwhile.
                log.exception("outbox %s: relay round failed", self._producer)
                self._maybe_left = True
            await self._outbox.woken(wait, not_before=started + self._round)

    def _until_due(self, backlog: Backlog) -> float:
        if backlog.next_due is None:
            return self._poll
        due_in = (backlog.next_due - _now()).total_seconds()
        return min(self._poll, max(due_in, 0.01))

    async def relay(self) -> int:
        """Publish every row due now, batch by batch; returns how many were sent. Stops at
        the first failure (NATS is likely down: the rest would only wait on it too)."""
        sent = 0
        while True:
            rows = await self._claim()
            if not rows:
                return sent
            published, failed = await self._publish(rows)
            sent += published
            if failed or len(rows) < self._batch:
                return sent

    async def _claim(self) -> list[Any]:
        now = _now()
        times = {"now": now, "until": now + self._lease}
        rows = await self._transactions.write(lambda c: c.execute(self._claiming, times).all())
        return sorted(rows, key=lambda row: row.id)  # RETURNING keeps no order

    async def _publish(self, rows: Sequence[Any]) -> tuple[int, bool]:
        """Publish claimed rows in order within half the lease, run by run (see _runs); then
        record what happened: the acked rows sent, the first failed one's retry, and the rest
        released (due with that retry). A run stops at its end when one of its rows failed.

        Rows of a run are all sent before any ack is awaited, on the bus's one connection, so
        JetStream stores them in the order they were claimed. A row acked after one that
        failed is stored all the same and marked sent: only a refusal of that one message
        (not an outage, which fails every row after it too) lets a later event overtake an
        earlier one, where one row at a time would have held back every later event."""
        deadline = time.monotonic() + self._lease.total_seconds() / 2
        sent: list[int] = []
        failure: tuple[Any, str] | None = None
        try:
            for run in self._runs(rows):
                if failure is not None or time.monotonic() > deadline:
                    break
                results = await self._publish_run(run)
                for row, result in zip(run, results, strict=True):
                    if result is None:
                        sent.append(row.id)
                        self._ready_domains.add(_domain_of(row.event_type))
                    elif failure is None:
                        failure = (row, f"{type(result).__name__}: {result}"[:_ERROR_CHARS])
        finally:
            settled = {*sent, *([failure[0].id] if failure is not None else [])}
            untried = [row.id for row in rows if row.id not in settled]
            self._settling = asyncio.ensure_future(self._settle(sent, failure, untried))
            await asyncio.shield(self._settling)
        return len(sent), failure is not None

    def _runs(self, rows: Sequence[Any]) -> Iterator[list[Any]]:
        """The claimed rows as runs published together: the longest stretches of rows whose
        domain this relay has published to already. A row of a domain not yet published to
        goes alone, as its publish may first set up the stream and the reply inbox, and one
        that waits for that before it writes would let the rows started after it write first."""
        run: list[Any] = []
        for row in rows:
            if _domain_of(row.event_type) in self._ready_domains:
                run.append(row)
                continue
            if run:
                yield run
                run = []
            yield [row]
        if run:
            yield run

    async def _publish_run(self, run: Sequence[Any]) -> list[BaseException | None]:
        """Each row's outcome (None: acked). The run's rows go out together, so one deadline
        serves them all: a row not acked `publish_timeout` after the run started fails with
        TimeoutError (one timer a run; a timer a row was a tenth of the relay's CPU)."""
        tasks = [asyncio.ensure_future(self._publish_one(row)) for row in run]
        try:
            done, _ = await asyncio.wait(tasks, timeout=self._publish_timeout)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise
        outcomes: list[BaseException | None] = []
        for task in tasks:
            if task not in done:
                task.cancel()
                outcomes.append(TimeoutError(f"no ack within {self._publish_timeout:g} s"))
            else:
                outcomes.append(asyncio.CancelledError() if task.cancelled() else task.exception())
        return outcomes

    async def _publish_one(self, row: Any) -> None:
        """The row's stored headers carry the trace context of the change that wrote it, and
        `Bus.publish` keeps the headers it is given over the relay's own (empty) context."""
        message = _message_class(row.event_type).FromString(row.payload)
        headers = json.loads(row.headers)
        await self._bus.publish(message, event_id=row.event_id, headers=headers, suffix=row.suffix)

    async def _settle(
        self, sent: list[int], failure: tuple[Any, str] | None, untried: list[int]
    ) -> None:
        self._maybe_left = self._maybe_left or failure is not None or bool(untried)
        now = _now()
        released_at = now
        statements = []
        if sent:
            statements.append(
                update(outbox_table).where(outbox_table.c.id.in_(sent)).values(sent_at=now)
            )
        if failure is not None:
            row, error = failure
            released_at = now + timedelta(seconds=self.retry_delay(row.attempts + 1))
            statements.append(
                update(outbox_table)
                .where(outbox_table.c.id == row.id)
                .values(attempts=row.attempts + 1, last_error=error, next_attempt_at=released_at)
            )
        if untried:
            statements.append(
                update(outbox_table)
                .where(outbox_table.c.id.in_(untried))
                .values(next_attempt_at=released_at)
            )
        if statements:
            await self._transactions.write(functools.partial(_execute_all, statements))
        if sent:
            RELAYED.labels(self._producer, "sent").inc(len(sent))
        if failure is not None:
            row, error = failure
            RELAYED.labels(self._producer, "failed").inc()
            log.warning(
                "outbox %s: event %s not published (attempt %d), retry at %s: %s",
                self._producer, row.event_id, row.attempts + 1, released_at.isoformat(), error,
            )  # fmt: skip

    def retry_delay(self, attempts: int) -> float:
        """Seconds before attempt `attempts + 1`: doubling from the first delay, capped."""
        first, cap = self._retry
        return float(min(cap, first * 2 ** min(attempts - 1, 32)))

    async def backlog(self) -> Backlog:
        """Count the unsent rows and set the gauges from them."""
        query = select(
            func.count(), func.min(outbox_table.c.created_at),
            func.min(outbox_table.c.next_attempt_at), func.max(outbox_table.c.next_attempt_at),
        ).where(outbox_table.c.producer == self._producer, _pending)  # fmt: skip
        count, *times = await self._transactions.read(lambda c: c.execute(query).one())
        now = _now()
        oldest, next_due, last_due = (utc(t) if t is not None else None for t in times)
        backlog = Backlog(int(count), oldest, next_due, last_due)
        # Rows due now are the next round's anyway (events of calls still coming in); only
        # rows due later need counting again to be woken for.
        self._maybe_left = backlog.last_due is not None and backlog.last_due > now
        PENDING.labels(self._producer).set(backlog.pending)
        age = (now - backlog.oldest).total_seconds() if backlog.oldest is not None else 0.0
        OLDEST_PENDING.labels(self._producer).set(max(age, 0.0))
        return backlog

    async def prune(self) -> int:
        """Delete rows sent longer ago than the retention; returns how many went."""
        cutoff = _now() - self._retention
        prune = delete(outbox_table).where(
            outbox_table.c.producer == self._producer, outbox_table.c.sent_at < cutoff
        )
        return await self._transactions.write(lambda c: int(c.execute(prune).rowcount))


def _claim_statement(producer: str, batch: int) -> Update:
    """The claim, built once per relay (building it per round cost more than a small round's
    statements): this producer's due rows, oldest first, leased `until` (bound per round)."""
    when = outbox_table.c.next_attempt_at
    due = (
        select(outbox_table.c.id)
        .where(outbox_table.c.producer == producer, _pending, when <= bindparam("now"))
        .order_by(outbox_table.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    )
    return (
        update(outbox_table)
        .where(outbox_table.c.id.in_(due.scalar_subquery()))
        .values(next_attempt_at=bindparam("until", type_=when.type))
        .returning(
            outbox_table.c.id,
            outbox_table.c.event_id,
            outbox_table.c.event_type,
            outbox_table.c.suffix,
            outbox_table.c.payload,
            outbox_table.c.headers,
            outbox_table.c.attempts,
        )
    )


def _execute_all(statements: Sequence[Any], connection: Connection) -> None:
    for statement in statements:
        connection.execute(statement)


@functools.cache
def _domain_of(event_type: str) -> str:
    """The domain whose stream stores an event type (from its subject)."""
    return domain_of(subject_of(_message_class(event_type)))


def _message_class(full_name: str) -> type[Message]:
    """The generated class of an event type (its module is imported by the service that
    wrote it, which is the one relaying it)."""
    descriptor = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(descriptor)
