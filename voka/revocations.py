"""The access-token denylist, as every service other than auth sees it.

A signed token stays valid until `exp`, so logout, password change or a disabled account can
only cut it off early by its `jti`. The auth service keeps the denylist; each other process
keeps an in-memory copy: loaded at start from `AuthService.ListRevokedTokens` (an
ACCESS_SERVICE RPC, called with this service's own identity) and kept current from the
`AccessTokenRevokedEvent`s on NATS. Entries are dropped once the token has expired anyway.

Every replica must see every event, so the events come over a plain NATS core subscription on
the subject rather than a durable JetStream consumer (replicas sharing a durable split the
events between them; a durable per process would leave one orphaned consumer on the server per
restart). Core delivery has no replay, which is what the start-up load is for: the subscription
opens first and the load follows, so a revocation published in between is seen at least once;
after a NATS reconnect the list is loaded again to cover the events missed while disconnected.

The same feed carries the other auth events a kit reacts to at once: API-key revocations and
owner changes (voka.apikeys drops cached key answers) and signing-key rotations (the JWKS cache
is fetched again). Those need no start-up load: before the process started it had nothing
cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import grpc
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSubscription

from voka import service_identity
from voka.auth.v1 import auth_pb2, auth_pb2_grpc, events_pb2
from voka.authn import Identity
from voka.bus import Bus, subject_of
from voka.service_identity import ServiceIdentity

log = logging.getLogger("voka.revocations")

Clock = Callable[[], float]
LoadRevoked = Callable[[], Awaitable[list[tuple[str, float]]]]
Listener = Callable[[Message], None]

LIST_PAGE_SIZE = 500
LIST_TIMEOUT = 5.0
LOAD_RETRY = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds between failed loads; the last repeats
PRUNE_EVERY = 60.0  # seconds between sweeps of expired entries
RESYNC_CHECK = 1.0  # seconds between looks at whether NATS reconnected


class RevocationCache:
    """Revoked `jti`s with the expiry of their token; `is_revoked` is a TokenVerifier check."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._revoked: dict[str, float] = {}
        self._pruned_at = clock()

    def add(self, token_id: str, expires_at: float) -> None:
        if token_id and expires_at > self._clock():
            self._revoked[token_id] = max(expires_at, self._revoked.get(token_id, 0.0))

    def prune(self) -> None:
        now = self._pruned_at = self._clock()
        self._revoked = {jti: exp for jti, exp in self._revoked.items() if exp > now}

    def __len__(self) -> int:
        return len(self._revoked)

    def __contains__(self, token_id: object) -> bool:
        expires_at = self._revoked.get(token_id) if isinstance(token_id, str) else None
        return expires_at is not None and expires_at > self._clock()

    async def is_revoked(self, identity: Identity) -> bool:
        """Whether the verified token was revoked (async to fit `authn.RevocationCheck`)."""
        return identity.token_id in self

    def on_event(self, event: events_pb2.AccessTokenRevokedEvent) -> None:
        self.add(event.token_id, float(event.expire_time.seconds))
        if self._clock() - self._pruned_at > PRUNE_EVERY:  # keeps the dict bounded
            self.prune()


class AuthDenylist:
    """Every live denylist entry from `AuthService.ListRevokedTokens` at `address`, asked with
    this service's own token (the channel is created inside the running loop)."""

    def __init__(self, address: str, identity: ServiceIdentity) -> None:
        self._address = address
        self._identity = identity
        self._channel: grpc.aio.Channel | None = None

    async def __call__(self) -> list[tuple[str, float]]:
        self._channel = self._channel or service_identity.channel(self._address, self._identity)
        stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        entries: list[tuple[str, float]] = []
        page_token = ""
        while True:
            request = auth_pb2.ListRevokedTokensRequest(
                page_size=LIST_PAGE_SIZE, page_token=page_token
            )
            reply = await stub.ListRevokedTokens(request, timeout=LIST_TIMEOUT)
            entries += [(t.token_id, float(t.expire_time.seconds)) for t in reply.revoked_tokens]
            page_token = reply.next_page_token
            if not page_token:
                return entries

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


class RevocationFeed:
    """Fills a RevocationCache from NATS events and, where it can, from the auth service."""

    def __init__(
        self,
        cache: RevocationCache,
        bus: Bus,
        load: LoadRevoked | None,
        listeners: Mapping[type[Message], Listener] | None = None,
    ) -> None:
        """`listeners`: further auth events to hand, parsed, to a callback each."""
        self.cache = cache
        self._bus = bus
        self._load = load
        self._listeners = dict(listeners or {})
        self._subscriptions: list[NatsSubscription] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.loaded = asyncio.Event()

    async def start(self) -> None:
        """Subscribe first, then load in the background (auth may not be up yet: the
        service must still start; until the load succeeds only events count)."""
        listeners: dict[type[Message], Listener] = {
            events_pb2.AccessTokenRevokedEvent: self._on_revoked,
            **self._listeners,
        }
        for event_type, listener in listeners.items():
            self._subscriptions.append(
                await self._bus.nc.subscribe(
                    subject_of(event_type), cb=_parsed(event_type, listener)
                )
            )
        if self._load is None:
            log.warning(
                "no %s: revoked tokens come from events only; tokens revoked before this "
                "process started are accepted until they expire",
                service_identity.SECRET_ENV,
            )
            return
        self._tasks.append(asyncio.create_task(self._load_until_done(), name="revocations"))
        self._tasks.append(asyncio.create_task(self._resync_on_reconnect(), name="revocations"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
        if isinstance(self._load, AuthDenylist):
            await self._load.close()

    def _on_revoked(self, event: Message) -> None:
        assert isinstance(event, events_pb2.AccessTokenRevokedEvent)
        self.cache.on_event(event)

    async def _load_until_done(self) -> None:
        assert self._load is not None
        attempt = 0
        while True:
            try:
                entries = await self._load()
            except Exception as exc:  # auth not up yet, or a transient failure
                delay = LOAD_RETRY[min(attempt, len(LOAD_RETRY) - 1)]
                attempt += 1
                log.warning("revocations: cannot load the denylist (%s); retry in %ss", exc, delay)
                await asyncio.sleep(delay)
                continue
            for token_id, expires_at in entries:
                self.cache.add(token_id, expires_at)
            self.cache.prune()
            self.loaded.set()
            log.info("revocations: %d revoked tokens loaded", len(self.cache))
            return

    async def _resync_on_reconnect(self) -> None:
        """Events published while NATS was away were missed; load the list again."""
        seen = self._bus.nc.stats.get("reconnects", 0)
        while True:
            await asyncio.sleep(RESYNC_CHECK)
            now = self._bus.nc.stats.get("reconnects", 0)
            if now != seen and self._bus.nc.is_connected:
                seen = now
                await self._load_until_done()


def _parsed(event_type: type[Message], listener: Listener) -> Callable[[Msg], Awaitable[None]]:
    async def on_message(msg: Msg) -> None:
        event = event_type()
        try:
            event.ParseFromString(msg.data)
        except DecodeError:
            log.warning("revocations: unparsable event on %s", msg.subject)
            return
        listener(event)

    return on_message


async def start_feed(
    bus: Bus,
    identity: ServiceIdentity | None,
    auth_address: str,
    listeners: Mapping[type[Message], Listener] | None = None,
) -> RevocationFeed:
    """The running feed of this process, loading through its service identity when it has one."""
    load = AuthDenylist(auth_address, identity) if identity is not None else None
    feed = RevocationFeed(RevocationCache(), bus, load, listeners)
    await feed.start()
    return feed
