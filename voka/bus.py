"""Events over NATS JetStream: publish protobuf events, consume them at least once, apply them
exactly once.

* One stream per domain, `VOKA_<DOMAIN>` for `voka.<domain>.>`, plus the shared dead-letter
  stream `VOKA_DLQ` for `voka.dlq.>`. The subject of an event comes from its message type's
  `(voka.api.v1.subject)` option, so publisher and consumer cannot disagree.
* The envelope travels in headers: `Voka-Event-Id` (also `Nats-Msg-Id`, so a retried publish
  is stored once), `Voka-Event-Type`, `traceparent`.
* Consumers are durable pull consumers with explicit acks, bounded redelivery with backoff
  (JetStream's defaults redeliver forever), and a dead-letter subject `voka.dlq.<subject>` for
  events that keep failing or cannot be parsed.
* `idempotent` claims the event id in the handler's own transaction (`voka.inbox`), which turns
  at-least-once delivery into an effect that happens once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

import nats
import nats.errors
from google.protobuf.message import DecodeError, Message
from nats.aio.client import DEFAULT_INBOX_PREFIX, Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext, api
from nats.js.errors import BadRequestError, NoStreamResponseError, ServiceUnavailableError
from nats.nuid import NUID
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voka import inbox, telemetry
from voka.api.v1 import options_pb2
from voka.config import NatsCredentials, Settings

log = logging.getLogger("voka.bus")

M = TypeVar("M", bound=Message)

EVENT_ID = "Voka-Event-Id"
EVENT_TYPE = "Voka-Event-Type"
PRODUCER = "Voka-Producer"
MSG_ID = "Nats-Msg-Id"
STREAM_SETUP_SECONDS = 10.0  # how long one answer to a stream's creation may take
STREAM_SETUP_ATTEMPTS = 3  # asked this many times, when no answer comes
DLQ_SUBJECT = "Voka-Dlq-Subject"
DLQ_ERROR = "Voka-Dlq-Error"
DLQ_DELIVERIES = "Voka-Dlq-Deliveries"
DLQ_CONSUMER = "Voka-Dlq-Consumer"
DLQ_STREAM = "Voka-Dlq-Stream"
DLQ_SEQUENCE = "Voka-Dlq-Sequence"
DLQ_PREFIX = "voka.dlq."
DLQ_STREAM_NAME = "VOKA_DLQ"

DEFAULT_BACKOFF = (1.0, 5.0, 30.0, 120.0)
_DOMAIN = re.compile(r"^[a-z][a-z0-9_]*$")
_DURABLE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SUFFIX = re.compile(r"^([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?$|^>$")
_EVENT_ID = re.compile(r"^[!-~]{1,64}$")  # printable ASCII, no spaces: fits voka_inbox.event_id
_NATS_USER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # one subject token: it names the user's inbox
_ERROR_CHARS = 1000
_FETCH_ERROR_PAUSE = 1.0
PUBLISH_ATTEMPTS = 3
PUBLISH_TIMEOUT = 2.0  # seconds per attempt
PUBLISH_PAUSE = 0.5  # seconds before attempt n + 1 (times n) when a stream refused at once

PUBLISHED = Counter(
    "voka_bus_published",
    "Events published, by subject and whether JetStream stored or de-duplicated them.",
    ["subject", "result"],
)
HANDLED = Counter(
    "voka_bus_handled",
    "Deliveries handled, by outcome: ack, retry, dead_letter.",
    ["subject", "consumer", "outcome"],
)
DEAD_LETTERED = Counter(
    "voka_bus_dead_lettered",
    "Events moved to the dead-letter stream, by reason: failed, poison, max_deliveries.",
    ["subject", "consumer", "reason"],
)
DUPLICATES = Counter(
    "voka_bus_duplicates_skipped",
    "Redeliveries an idempotent handler skipped because the inbox had them.",
    ["consumer"],
)
HANDLE_SECONDS = Histogram(
    "voka_bus_handle_seconds",
    "Time a handler took per delivery.",
    ["subject", "consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)


@dataclass(frozen=True)
class StreamLimits:
    """Retention of a stream. Old events go first; consumers must keep up within max_age."""

    max_age: float = 7 * 24 * 3600.0
    max_bytes: int = 512 * 1024**2  # VOKA_STREAM_MAX_BYTES
    duplicate_window: float = 120.0  # seconds a repeated Nats-Msg-Id is recognised
    replicas: int = 1  # copies on a cluster (VOKA_STREAM_REPLICAS); consumers inherit it


DLQ_LIMITS = StreamLimits(max_age=30 * 24 * 3600.0)


def _configured_limits() -> StreamLimits:
    settings = Settings()
    return StreamLimits(max_bytes=settings.stream_max_bytes, replicas=settings.stream_replicas)


@dataclass(frozen=True)
class Event(Generic[M]):
    """One delivery of an event: the decoded message and its envelope."""

    id: str
    subject: str
    message: M
    headers: Mapping[str, str]
    delivered: int  # 1 on the first delivery
    time: datetime  # when JetStream stored it


Handler = Callable[[Event[M]], Awaitable[None]]
TransactionalHandler = Callable[[Event[M], AsyncSession], Awaitable[None]]


class PoisonMessageError(Exception):
    """A payload that can never be handled (does not parse, or is another event type)."""


def subject_of(message_type: type[Message]) -> str:
    """The NATS subject of an event type, from its `(voka.api.v1.subject)` option."""
    extension: Any = options_pb2.subject  # the generated .pyi types it too loosely to index
    subject = str(message_type.DESCRIPTOR.GetOptions().Extensions[extension])
    if not subject:
        raise ValueError(f"{message_type.DESCRIPTOR.full_name} has no (voka.api.v1.subject)")
    return subject


def inbox_prefix(user: str) -> str:
    """Where a signed-in user's replies and pull deliveries arrive: `_INBOX.<user>.>`."""
    if not _NATS_USER.match(user):
        raise ValueError(f"NATS user {user!r}: 1-64 of A-Z a-z 0-9 _ -")
    return f"_INBOX.{user}"


def domain_of(subject: str) -> str:
    """`voka.<domain>.<event...>` → domain."""
    parts = subject.split(".")
    if len(parts) < 3 or parts[0] != "voka" or not _DOMAIN.match(parts[1]):
        raise ValueError(f"subject {subject!r} is not voka.<domain>.<event>")
    return parts[1]


def stream_name(domain: str) -> str:
    if not _DOMAIN.match(domain) or domain == "dlq":
        raise ValueError(f"invalid domain {domain!r}")
    return f"VOKA_{domain.upper()}"


def _stream_config(name: str, subjects: list[str], limits: StreamLimits) -> api.StreamConfig:
    return api.StreamConfig(
        name=name,
        subjects=subjects,
        storage=api.StorageType.FILE,
        retention=api.RetentionPolicy.LIMITS,
        discard=api.DiscardPolicy.OLD,
        max_age=limits.max_age,
        max_bytes=limits.max_bytes,
        duplicate_window=limits.duplicate_window,
        num_replicas=limits.replicas,
    )


def _header(value: str) -> str:
    """NATS header values are one line; error texts are not."""
    return " ".join(value.split())[:_ERROR_CHARS]


class Bus:
    """A NATS connection with the kit's stream, publish and consume conventions."""

    def __init__(self, nc: Client, name: str, limits: StreamLimits) -> None:
        self.name = name
        self.nc = nc
        self.js: JetStreamContext = nc.jetstream()
        # Creating a replicated stream waits for its leader: in a cluster that has just formed
        # (or lost a server) on a loaded machine that took longer than nats-py's 5 s default
        # (and `_upsert` asks again when no answer comes).
        self._stream_admin = nc.jsm(timeout=STREAM_SETUP_SECONDS)
        self._limits = limits
        self._streams: dict[str, str] = {}
        self._dlq_ready = False
        self._subscriptions: set[Subscription[Any]] = set()
        self._nuid = NUID()

    @classmethod
    async def connect(
        cls,
        url: str,
        name: str,
        *,
        limits: StreamLimits | None = None,
        connect_attempts: int = 3,
        reconnect_wait: float = 1.0,
        credentials: NatsCredentials | None = None,
    ) -> Bus:
        """Connect (fail after `connect_attempts` so a misconfigured process exits), then
        reconnect forever: a NATS restart must not kill a running service.

        `credentials` default to the process's own (VOKA_NATS_USER, VOKA_NATS_PASSWORD), so
        every process of a service signs in as that service; with none it connects without.
        A signed-in connection keeps its replies under `inbox_prefix(user)`, the only inboxes
        its user may read (tools/nats_auth.py), so no other user can read them."""
        signed_in = credentials or Settings().nats_credentials
        nc = await nats.connect(
            servers=[u.strip() for u in url.split(",") if u.strip()],
            name=name,
            max_reconnect_attempts=connect_attempts,
            reconnect_time_wait=reconnect_wait,
            connect_timeout=2,
            error_cb=_on_error,
            disconnected_cb=_on_disconnected,
            reconnected_cb=_on_reconnected,
            user=signed_in.user if signed_in else None,
            password=signed_in.password if signed_in else None,
            inbox_prefix=inbox_prefix(signed_in.user) if signed_in else DEFAULT_INBOX_PREFIX,
        )
        # nats-py applies one attempt budget to the first connect and to reconnects; lift it
        # now that we are connected (it is read on every reconnect attempt).
        nc.options["max_reconnect_attempts"] = -1
        return cls(nc, name, limits or _configured_limits())

    async def ensure_stream(self, domain: str) -> str:
        """Create or update the domain's stream and the dead-letter stream; returns the
        domain stream's name. Safe to call from every replica on every start."""
        name = stream_name(domain)
        await self._upsert(_stream_config(name, [f"voka.{domain}.>"], self._limits))
        if not self._dlq_ready:
            dlq_limits = replace(
                DLQ_LIMITS, replicas=self._limits.replicas, max_bytes=self._limits.max_bytes
            )
            await self._upsert(_stream_config(DLQ_STREAM_NAME, [f"{DLQ_PREFIX}>"], dlq_limits))
            self._dlq_ready = True
        self._streams[domain] = name
        return name

    async def _upsert(self, config: api.StreamConfig) -> None:
        """Create the stream, or update it where its config changed, asked again when no
        answer comes: both are idempotent, and in a cluster that has just formed the answer to
        one that worked can be lost (seen in CI: the stream's leader elected within 0.2 s, and
        no answer in 30 s)."""
        for attempt in range(1, STREAM_SETUP_ATTEMPTS + 1):
            try:
                await self._create_or_update(config)
                return
            except nats.errors.TimeoutError:
                if attempt == STREAM_SETUP_ATTEMPTS:
                    raise
                log.warning("nats: no answer to the setup of stream %s within %.0f s; asking "
                            "again", config.name, STREAM_SETUP_SECONDS)  # fmt: skip

    async def _create_or_update(self, config: api.StreamConfig) -> None:
        try:
            await self._stream_admin.add_stream(config)
        except BadRequestError as exc:
            if exc.err_code != 10058:  # "stream name already in use with a different config"
                raise
            await self._stream_admin.update_stream(config)

    async def _stream_for(self, subject: str) -> str:
        domain = domain_of(subject)
        return self._streams.get(domain) or await self.ensure_stream(domain)

    async def publish(
        self,
        message: Message,
        *,
        event_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        suffix: str = "",
    ) -> str:
        """Store `message` in its stream and wait for JetStream's ack; returns the event id.
        Publishing again with the same `event_id` (a retry) is stored once. Bound the wait
        with `asyncio.timeout` where PUBLISH_ATTEMPTS x PUBLISH_TIMEOUT is too long.
        `suffix` appends a routing token the contract names (`<subject>.<suffix>`). `headers`
        travel with the message and win over the current trace context's."""
        subject = _with_suffix(subject_of(type(message)), suffix)
        event_id, envelope = self._envelope(message, event_id, headers)
        ack = await self._store(subject, message.SerializeToString(), envelope)
        PUBLISHED.labels(subject, "duplicate" if ack.duplicate else "stored").inc()
        return event_id

    async def emit(self, message: Message, *, suffix: str = "") -> str:
        """Publish a hint without waiting for JetStream's ack (far cheaper than `publish`):
        for events whose loss costs nothing because the truth is kept elsewhere and readers
        re-check it. JetStream stores the event when it arrives; a lost one is not retried."""
        subject = _with_suffix(subject_of(type(message)), suffix)
        await self._stream_for(subject)
        # NUIDs are unique without a system call per id (uuid4 reads the OS's random source).
        event_id = self._nuid.next().decode()
        # A lean envelope: nats-py checks header values character by character, and a hint
        # is never retried (no Nats-Msg-Id needed) nor traced back to its producer.
        envelope = {**telemetry.inject(), EVENT_ID: event_id,
                    EVENT_TYPE: message.DESCRIPTOR.full_name}  # fmt: skip
        await self.nc.publish(subject, message.SerializeToString(), headers=envelope)
        PUBLISHED.labels(subject, "emitted").inc()
        return event_id

    async def emit_many(self, messages: Sequence[Message]) -> None:
        """`emit` for a batch of hints (each its own message, on its type's subject), written
        to the connection in one go: nats-py's `publish` checks every header character by
        character and queues one write per message, which a scheduler emitting an event per
        finished task pays thousands of times a second. Ids are the batch's NUID plus the
        message's position (unique without a NUID each)."""
        subjects = [subject_of(type(message)) for message in messages]
        for subject in set(subjects):
            await self._stream_for(subject)
        if not self.nc.is_connected:  # reconnecting: nats-py buffers or refuses, as for one
            for message in messages:
                await self.emit(message)
            return
        context = "".join(f"{k}: {_header(v)}\r\n" for k, v in telemetry.inject().items())
        batch = self._nuid.next().decode()
        frames = b"".join(
            _hint_frame(subject, message, f"{context}{EVENT_ID}: {batch}.{index}\r\n")
            for index, (subject, message) in enumerate(zip(subjects, messages, strict=True))
        )
        # nats-py's own publish path, once for the batch (2.x: queue, then kick the flusher).
        self.nc.stats["out_msgs"] += len(messages)
        self.nc.stats["out_bytes"] += len(frames)
        await self.nc._send_command(frames)
        await self.nc._flush_pending()
        for subject in set(subjects):
            PUBLISHED.labels(subject, "emitted").inc(subjects.count(subject))

    def _envelope(
        self, message: Message, event_id: str | None, headers: Mapping[str, str] | None
    ) -> tuple[str, dict[str, str]]:
        event_id = event_id or uuid.uuid4().hex
        if not _EVENT_ID.match(event_id):
            raise ValueError("event_id: 1-64 printable ASCII characters, no spaces")
        return event_id, {
            **telemetry.inject(),
            # The caller's headers win: the outbox relay passes on a stored event's trace.
            **{k: _header(v) for k, v in (headers or {}).items()},
            EVENT_ID: event_id,
            EVENT_TYPE: message.DESCRIPTOR.full_name,
            MSG_ID: event_id,
            PRODUCER: self.name,
        }

    async def _store(self, subject: str, payload: bytes, headers: dict[str, str]) -> api.PubAck:
        """Publish until JetStream acks. Retrying is safe: the Nats-Msg-Id makes a message
        that did arrive the first time a duplicate. A request sent just before a connection
        dropped gets no answer, and a stream deleted behind our back is recreated. A stream
        that answers nothing or "unavailable" at once (its leader not elected yet: a cluster
        just formed, a server lost) is asked again after a pause (PUBLISH_PAUSE)."""
        await self._stream_for(subject)
        for attempt in range(1, PUBLISH_ATTEMPTS + 1):
            try:
                return await self.js.publish(
                    subject, payload, timeout=PUBLISH_TIMEOUT, headers=headers
                )
            except (NoStreamResponseError, ServiceUnavailableError) as exc:
                if attempt < PUBLISH_ATTEMPTS:
                    log.warning("bus: %s not stored (%s), retrying", subject, type(exc).__name__)
                    await asyncio.sleep(PUBLISH_PAUSE * attempt)
                self._streams.pop(domain_of(subject), None)
                await self._stream_for(subject)
            except nats.errors.TimeoutError:
                if attempt == PUBLISH_ATTEMPTS:
                    raise
                log.warning("bus: no ack for %s (attempt %d), retrying", subject, attempt)
        raise ConnectionError(f"bus: {subject} not stored after {PUBLISH_ATTEMPTS} attempts")

    async def subscribe(
        self,
        message_type: type[M],
        durable: str,
        handler: Handler[M],
        *,
        max_deliver: int = 5,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        ack_wait: float = 30.0,
        batch: int = 10,
        concurrency: int = 4,
        handler_timeout: float | None = 300.0,
        fetch_timeout: float = 5.0,
        suffix: str = "",
        confirm_acks: bool = True,
    ) -> Subscription[M]:
        """Consume `message_type` events with the durable pull consumer `durable` (one name
        per consuming service and purpose; replicas share it and split the work).

        Delivery n waits `backoff[n-1]` (the last value repeats) for an ack before JetStream
        redelivers, and a failed handler is retried after the same delay; `ack_wait` applies
        only with an empty `backoff`. A running handler keeps its delivery alive with
        in-progress acks until `handler_timeout`. After `max_deliver` failed deliveries the
        event goes to `voka.dlq.<subject>`. `suffix` narrows (or widens, with `*`/`>`) the
        filter to `<subject>.<suffix>` for events published with a routing token.
        `confirm_acks=False` sends each ack without waiting for the server to confirm it (a
        round trip saved per event): for handlers whose repeat changes nothing, as a lost
        ack only means the event comes once more."""
        options = ConsumerOptions(
            max_deliver=max_deliver,
            backoff=tuple(backoff[: max_deliver - 1]),
            ack_wait=ack_wait,
            batch=batch,
            concurrency=concurrency,
            handler_timeout=handler_timeout,
            fetch_timeout=fetch_timeout,
            confirm_acks=confirm_acks,
        )
        subject = _with_suffix(subject_of(message_type), suffix)
        return await self._bind(durable, [subject], label=subject, message_types=[message_type],
                                handler=handler, options=options)  # fmt: skip

    async def subscribe_many(
        self,
        message_types: Sequence[type[Message]],
        durable: str,
        handler: Handler[Message],
        options: ConsumerOptions | None = None,
    ) -> Subscription[Message]:
        """One durable consumer for several event types of one domain (JetStream's
        `filter_subjects`), each delivery decoded by its `Voka-Event-Type`: for consumers that
        follow many subjects (webhooks) without one fetch loop per type."""
        subjects = sorted({subject_of(t) for t in message_types})
        domains = {domain_of(s) for s in subjects}
        if len(domains) != 1:
            raise ValueError(f"subscribe_many: one domain per consumer, got {sorted(domains)}")
        label = f"voka.{domains.pop()}.>"
        return await self._bind(durable, subjects, label=label, message_types=message_types,
                                handler=handler, options=options or ConsumerOptions())  # fmt: skip

    async def _bind(
        self,
        durable: str,
        subjects: list[str],
        *,
        label: str,
        message_types: Sequence[type[M]],
        handler: Handler[M],
        options: ConsumerOptions,
    ) -> Subscription[M]:
        if not _DURABLE.match(durable):
            raise ValueError(f"durable {durable!r}: 1-64 of A-Z a-z 0-9 _ -")
        stream = await self._stream_for(subjects[0])
        await self.js.add_consumer(stream, options.consumer_config(durable, subjects))
        pull = await self.js.pull_subscribe_bind(durable=durable, stream=stream)
        subscription = Subscription(
            self,
            pull,
            stream=stream,
            message_types={t.DESCRIPTOR.full_name: t for t in message_types},
            handler=handler,
            durable=durable,
            subject=label,
            options=options,
        )
        await subscription.start()
        self._subscriptions.add(subscription)
        return subscription

    async def listen(
        self, subjects: str, on_message: Callable[[Msg], Awaitable[None]], *, queue: str = ""
    ) -> Listener:
        """Plain NATS messages on `subjects`, outside JetStream: wake-up hints (`emit`), fan-outs
        and advisories, whose loss costs at most one polling round. The one place a service
        subscribes to NATS directly; `queue` shares the messages among a group's members."""
        return Listener(await self.nc.subscribe(subjects, queue=queue, cb=on_message))

    async def check(self) -> str:
        """Health: connected, and JetStream answers."""
        if not self.nc.is_connected:
            raise ConnectionError("nats: not connected")
        info = await self.js.account_info()
        return f"jetstream ok, {info.streams} streams"

    async def close(self, grace: float = 10.0) -> None:
        """Stop every subscription (in-flight handlers get `grace` seconds), flush, close.
        With the server gone, nats-py's close raises as it drops the dead socket: nothing is
        left to close then, and the caller's own shutdown (the database's) must go on."""
        await asyncio.gather(*(s.stop(grace) for s in list(self._subscriptions)))
        with contextlib.suppress(Exception):
            await self.nc.flush(timeout=2)
        try:
            await self.nc.close()
        except (ConnectionError, nats.errors.Error) as exc:
            log.info("nats: closed with the connection already gone: %s", exc)

    def _forget(self, subscription: Subscription[Any]) -> None:
        self._subscriptions.discard(subscription)


class Listener:
    """A `Bus.listen` subscription: stop it, or use it as an async context manager."""

    def __init__(self, subscription: NatsSubscription) -> None:
        self._subscription = subscription

    async def stop(self) -> None:
        """Unsubscribe; a connection already closed has nothing left to stop."""
        with contextlib.suppress(nats.errors.Error):
            await self._subscription.unsubscribe()

    async def __aenter__(self) -> Listener:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()


@dataclass(frozen=True)
class ConsumerOptions:
    """Delivery policy of one subscription (see `Bus.subscribe`). `new_only`: a durable
    created now starts at the events published from now on instead of the stream's history
    (it still resumes where it stopped once it exists)."""

    max_deliver: int = 5
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    ack_wait: float = 30.0
    batch: int = 10
    concurrency: int = 4
    handler_timeout: float | None = 300.0
    fetch_timeout: float = 5.0
    new_only: bool = False
    confirm_acks: bool = True

    def __post_init__(self) -> None:
        if self.max_deliver < 1 or self.batch < 1 or self.concurrency < 1:
            raise ValueError("max_deliver, batch and concurrency must be at least 1")
        if min((*self.backoff, self.ack_wait)) <= 0 or self.fetch_timeout <= 0:
            raise ValueError("backoff, ack_wait and fetch_timeout must be positive")

    def ack_deadline(self, delivered: int) -> float:
        """How long JetStream waits for an ack of the `delivered`-th delivery."""
        if not self.backoff:
            return self.ack_wait
        return self.backoff[min(delivered, len(self.backoff)) - 1]

    def consumer_config(self, durable: str, subjects: Sequence[str]) -> api.ConsumerConfig:
        one = len(subjects) == 1
        return api.ConsumerConfig(
            name=durable,
            durable_name=durable,
            filter_subject=subjects[0] if one else None,
            filter_subjects=None if one else list(subjects),
            deliver_policy=api.DeliverPolicy.NEW if self.new_only else api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=self.ack_deadline(1),
            max_deliver=self.max_deliver,
            backoff=list(self.backoff) or None,
        )


class _KeepAlive:
    """In-progress acks every `interval` while a handler runs: a timer rather than a task per
    delivery, since most handlers are done long before the first beat is due."""

    def __init__(self, msg: Msg, interval: float) -> None:
        self._msg = msg
        self._interval = interval
        self._loop = asyncio.get_running_loop()
        self._timer = self._loop.call_later(interval, self._beat)
        self._sending: asyncio.Task[None] | None = None

    def stop(self) -> None:
        self._timer.cancel()
        if self._sending is not None:
            self._sending.cancel()

    def _beat(self) -> None:
        self._sending = self._loop.create_task(self._send())
        self._timer = self._loop.call_later(self._interval, self._beat)

    async def _send(self) -> None:
        with contextlib.suppress(Exception):
            await self._msg.in_progress()


class Subscription(Generic[M]):
    """A running consumer: a fetch loop feeding at most `concurrency` handler tasks."""

    def __init__(
        self,
        bus: Bus,
        pull: JetStreamContext.PullSubscription,
        *,
        stream: str,
        message_types: Mapping[str, type[M]],
        handler: Handler[M],
        durable: str,
        subject: str,
        options: ConsumerOptions,
    ) -> None:
        self.durable = durable
        self.subject = subject
        self._bus = bus
        self._pull = pull
        self._stream = stream
        self._types = dict(message_types)
        self._type_name = " | ".join(sorted(self._types))
        self._handler = handler
        self._options = options
        self._inflight: set[asyncio.Task[None]] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._advisories: Listener | None = None
        self._stopped = False
        # The labelled series every delivery touches, looked up once (a lookup per delivery
        # cost a tenth of handling one).
        self._handle_seconds = HANDLE_SECONDS.labels(subject, durable)
        self._acked = HANDLED.labels(subject, durable, "ack")

    async def start(self) -> None:
        """Start fetching, and listen for events JetStream gave up on without a verdict."""
        self._advisories = await self._bus.listen(
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{self._stream}.{self.durable}",
            self._on_max_deliveries,
            queue=self.durable,  # one replica dead-letters it, not all of them
        )
        self._tasks.append(asyncio.create_task(self._fetch_loop(), name=f"bus:{self.durable}"))

    async def stop(self, grace: float = 10.0) -> None:
        """Stop fetching, give in-flight handlers `grace` seconds, abandon the rest without
        acking (JetStream redelivers them after their ack deadline), and unsubscribe. The
        durable consumer stays on the server, so a restarted consumer resumes from it."""
        if self._stopped:
            return
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._inflight:
            pending = set(self._inflight)
            if grace > 0:
                _, pending = await asyncio.wait(pending, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self._advisories is not None:
            await self._advisories.stop()
        with contextlib.suppress(Exception):
            await self._pull.unsubscribe()
        self._bus._forget(self)

    async def _fetch_loop(self) -> None:
        # The flag too, not only the cancellation: asyncio.wait_for (nats-py's fetch) drops a
        # cancellation that lands as its message arrives (Python 3.11), and the loop would
        # fetch on while `stop` waits for it.
        while not self._stopped:
            free = self._options.concurrency - len(self._inflight)
            if free <= 0:
                await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
                continue
            for msg in await self._fetch(min(free, self._options.batch)):
                task = asyncio.create_task(self._process(msg))
                self._inflight.add(task)
                task.add_done_callback(self._inflight.discard)

    async def _fetch(self, count: int) -> list[Msg]:
        """Up to `count` deliveries, as soon as there is one. nats-py's `fetch(n)` on a
        consumer with nothing waiting holds the first delivery until n have come or its
        timeout (seconds) has passed, so a trickle of events would wait that long each:
        instead one lingering request for the first, then one for what is waiting already."""
        try:
            found = await self._pull.fetch(1, timeout=self._options.fetch_timeout)
        except TimeoutError:  # nothing to do (nats' timeout errors subclass it)
            return []
        except Exception as exc:
            # Disconnected, server restarting: nats-py reconnects on its own; try again soon.
            log.warning("bus %s: fetch failed: %s", self.durable, exc)
            await asyncio.sleep(_FETCH_ERROR_PAUSE)
            return []
        # The delivery says how many more the consumer holds: none (a trickle) is one pull
        # request and one status reply saved per delivery. Redeliveries due are not counted
        # there; the next fetch takes them.
        more = min(count - 1, _pending(found))
        if more > 0:
            with contextlib.suppress(Exception):  # disconnected: JetStream redelivers the rest
                await self._waiting(more, found)
        return found

    async def _waiting(self, count: int, found: list[Msg]) -> None:
        """Add what the consumer holds for us now, up to `count`: one `no_wait` pull request,
        which the server answers at once with the messages it has and a status (404/408)
        when it has fewer. Through nats-py's pull subscription internals (2.x: `_deliver`,
        `_sub`), as its own `fetch` always lingers when nothing is buffered here."""
        request = json.dumps({"batch": count, "no_wait": True}).encode()
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self._stream}.{self.durable}"
        await self._bus.nc.publish(subject, request, reply=self._pull._deliver)
        for _ in range(count):
            try:
                msg = await self._pull._sub.next_msg(timeout=self._options.fetch_timeout)
            except TimeoutError:  # late ones stay buffered for the next fetch
                return
            if JetStreamContext.is_status_msg(msg):  # nothing more now (or a stale status)
                return
            found.append(msg)

    async def _process(self, msg: Msg) -> None:
        try:
            await self._deliver(msg)
        except Exception:
            # An ack or nak that did not reach the server: JetStream redelivers later.
            log.exception("bus %s: could not settle a delivery", self.durable)

    async def _deliver(self, msg: Msg) -> None:
        meta = msg.metadata
        try:
            event = self._decode(msg)
        except PoisonMessageError as exc:
            await self._dead_letter(msg, str(exc), "poison")
            return
        start = time.perf_counter()
        # In-progress acks at a third of the ack deadline, so a slow handler is not mistaken
        # for a dead one (and its event handed to someone else meanwhile).
        keep_alive = _KeepAlive(msg, self._options.ack_deadline(meta.num_delivered) / 3)
        try:
            await self._run_handler(event)
        except Exception as exc:
            await self._on_failure(msg, event, exc)
            return
        finally:
            keep_alive.stop()
            self._handle_seconds.observe(time.perf_counter() - start)
        await (msg.ack_sync() if self._options.confirm_acks else msg.ack())
        self._acked.inc()

    def _decode(self, msg: Msg) -> Event[M]:
        headers = dict(msg.headers or {})
        declared = headers.get(EVENT_TYPE)
        if not declared and len(self._types) == 1:
            declared = self._type_name
        kind = self._types.get(declared or "")
        if kind is None:
            raise PoisonMessageError(f"event type {declared} where {self._type_name} expected")
        message = kind()
        try:
            message.ParseFromString(msg.data)
        except DecodeError as exc:
            raise PoisonMessageError(f"payload is not a {self._type_name}: {exc}") from exc
        meta = msg.metadata
        return Event(
            id=headers.get(EVENT_ID) or _fallback_id(meta.stream, meta.sequence.stream),
            subject=msg.subject,
            message=message,
            headers=headers,
            delivered=meta.num_delivered,
            time=meta.timestamp,
        )

    async def _run_handler(self, event: Event[M]) -> None:
        with telemetry.span(
            f"{event.subject} process",
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": event.subject,
                "messaging.consumer.group.name": self.durable,
                "messaging.message.id": event.id,
            },
            parent=telemetry.extract(event.headers),
        ):
            async with asyncio.timeout(self._options.handler_timeout):
                await self._handler(event)

    async def _on_failure(self, msg: Msg, event: Event[M], exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        if event.delivered >= self._options.max_deliver:
            log.error("bus %s: event %s failed for good: %s", self.durable, event.id, error)
            await self._dead_letter(msg, error, "failed")
            return
        delay = self._options.ack_deadline(event.delivered)
        log.warning(
            "bus %s: event %s failed (delivery %d of %d), retry in %.1fs: %s",
            *(self.durable, event.id, event.delivered, self._options.max_deliver, delay, error),
        )
        await msg.nak(delay=delay)
        HANDLED.labels(self.subject, self.durable, "retry").inc()

    async def _dead_letter(self, msg: Msg, error: str, reason: str) -> None:
        """Copy the delivery to `voka.dlq.<subject>` with why, then stop its redelivery.
        If the copy fails, the delivery stays un-acked and comes back."""
        meta = msg.metadata
        await self._publish_dead_letter(
            msg.subject, msg.data, msg.headers, meta.stream, meta.sequence.stream,
            deliveries=meta.num_delivered, error=error, reason=reason,
        )  # fmt: skip
        await msg.term()
        HANDLED.labels(self.subject, self.durable, "dead_letter").inc()

    async def _publish_dead_letter(
        self,
        subject: str,
        data: bytes,
        headers: Mapping[str, str] | None,
        stream: str,
        sequence: int,
        *,
        deliveries: int,
        error: str,
        reason: str,
    ) -> None:
        kept = {k: v for k, v in (headers or {}).items() if not k.lower().startswith("nats-")}
        envelope = {
            **kept,
            EVENT_ID: kept.get(EVENT_ID) or _fallback_id(stream, sequence),
            EVENT_TYPE: kept.get(EVENT_TYPE) or self._type_name,
            DLQ_SUBJECT: subject,
            DLQ_ERROR: _header(error),
            DLQ_DELIVERIES: str(deliveries),
            DLQ_CONSUMER: self.durable,
            DLQ_STREAM: stream,
            DLQ_SEQUENCE: str(sequence),
            # One dead letter per stored event and consumer, however often we get here.
            MSG_ID: f"dlq:{stream}:{sequence}:{self.durable}",
        }
        await self._bus.js.publish(DLQ_PREFIX + subject, data, headers=envelope)
        DEAD_LETTERED.labels(self.subject, self.durable, reason).inc()

    async def _on_max_deliveries(self, advisory: Msg) -> None:
        """JetStream stopped redelivering an event whose last delivery never got a verdict
        (the process died or hung mid-handler): dead-letter it from the stream."""
        try:
            info = json.loads(advisory.data)
            stream, sequence = str(info["stream"]), int(info["stream_seq"])
            stored = await self._bus.js.get_msg(stream, sequence)
            await self._publish_dead_letter(
                stored.subject or self.subject, stored.data or b"", stored.headers, stream,
                sequence, deliveries=int(info.get("deliveries", 0)), reason="max_deliveries",
                error="no ack after the last delivery (handler crashed or timed out)",
            )  # fmt: skip
        except Exception:
            log.exception("bus %s: could not dead-letter after max deliveries", self.durable)


def _with_suffix(subject: str, suffix: str) -> str:
    """`subject.suffix`, refusing tokens that would break the subject's shape."""
    if not suffix:
        return subject
    if not _SUFFIX.match(suffix):
        raise ValueError(f"subject suffix {suffix!r}: dot-separated tokens of A-Z a-z 0-9 _ - * >")
    return f"{subject}.{suffix}"


def _pending(found: list[Msg]) -> int:
    """What the consumer held beyond the last delivery, by its ack subject (unknown: ask)."""
    try:
        return found[-1].metadata.num_pending
    except (IndexError, ValueError, nats.errors.NotJSMessageError):
        return sys.maxsize


def _fallback_id(stream: str, sequence: int) -> str:
    """Events from producers that skip the kit have no id; their stream position is one."""
    return f"{stream}:{sequence}"


def _hint_frame(subject: str, message: Message, headers: str) -> bytes:
    """One NATS `HPUB` (the protocol's publish with headers) of a hint: `headers` are ready
    lines (`Name: value\\r\\n`), the event type is added here."""
    header = f"NATS/1.0\r\n{headers}{EVENT_TYPE}: {message.DESCRIPTOR.full_name}\r\n\r\n".encode()
    payload = message.SerializeToString()
    size = len(header)
    return b"HPUB %s %d %d\r\n%s%s\r\n" % (
        subject.encode(), size, size + len(payload), header, payload
    )  # fmt: skip


def idempotent(
    sessions: async_sessionmaker[AsyncSession], consumer: str, handler: TransactionalHandler[M]
) -> Handler[M]:
    """Wrap `handler(event, session)` so its effect happens once per event: the event id is
    claimed in the inbox in the same transaction as the effect. A redelivery after a commit
    whose ack was lost finds the claim and does nothing; a crash before the commit rolls the
    claim back with the effect, so the redelivery does the work."""

    async def once(event: Event[M]) -> None:
        async with sessions() as session, session.begin():
            if not await inbox.claim(session, consumer, event.id):
                log.debug("bus %s: event %s already processed, skipped", consumer, event.id)
                DUPLICATES.labels(consumer).inc()
                return
            await handler(event, session)

    return once


async def _on_error(exc: Exception) -> None:
    log.warning("nats: %s", exc)


async def _on_disconnected() -> None:
    log.warning("nats: disconnected")


async def _on_reconnected() -> None:
    log.info("nats: reconnected")
