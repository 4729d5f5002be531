"""The access-token denylist, as every service other than auth sees it.

A signed token stays valid until `exp`, so logout, password change or a disabled account can
only cut it off early. Listing every token would miss those nobody recorded (earlier refreshes
of a session, tokens exchanged for an API key), so most entries are cut-offs instead: "every
token of session s (`sid`) issued before T" (logout, a revoked session or API key) and "every
token of users/u issued before T" (password change, disabled, demoted, deleted); single tokens
by `jti` remain for the bearer of a logout. An entry is dropped once every token it covers has
expired, so the list stays as short as the access-token lifetime makes it.

The auth service keeps the denylist; each other process keeps an in-memory copy: loaded at
start from `AuthService.ListRevokedTokens` (an ACCESS_SERVICE RPC, called with this service's
own identity), reloaded every `reload_seconds` (RELOAD_SECONDS, 30) and after a NATS reconnect,
and kept current in between from the `AccessTokenRevokedEvent`s on NATS. A revocation therefore
reaches a service within milliseconds through its event, and within the reload period (plus one
ListRevokedTokens call) when the event is lost, whether or not NATS dropped the connection.

Every replica must see every event, so the events come over a plain NATS core subscription on
the subject (`Bus.listen`) rather than a durable JetStream consumer (replicas sharing a durable
split the events between them; a durable per process would leave one orphaned consumer on the
server per restart). Core delivery has no replay, which is what the loads are for: the
subscription opens first and the load follows, so a revocation published in between is seen at
least once.

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
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError, Message
from nats.aio.msg import Msg

from voka import service_identity
from voka.auth.v1 import auth_pb2, auth_pb2_grpc, events_pb2
from voka.authn import Identity
from voka.bus import Bus, Listener, subject_of
from voka.service_identity import ServiceIdentity

log = logging.getLogger("voka.revocations")

Clock = Callable[[], float]
OnEvent = Callable[[Message], None]

LIST_PAGE_SIZE = 500
LIST_TIMEOUT = 5.0
LOAD_RETRY = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds between failed loads; the last repeats
PRUNE_EVERY = 60.0  # seconds between sweeps of expired entries
RELOAD_SECONDS = 30.0  # the bound on a revocation whose event was lost (docs/auth.md)
RECONNECT_CHECK = 1.0  # seconds between looks at whether NATS reconnected


@dataclass(frozen=True)
class Revocation:
    """One denylist entry: a token by its `token_id` (`jti`), or a cut-off: every token of
    `subject` — of its session `session_id` only, when set — whose `iat` is before
    `issued_before`. It matters until `expires_at`, when every token it covers has expired."""

    token_id: str = ""
    subject: str = ""
    session_id: str = ""
    issued_before: float = 0.0
    expires_at: float = 0.0

    @classmethod
    def of(cls, entry: auth_pb2.RevokedToken | events_pb2.AccessTokenRevokedEvent) -> Revocation:
        """A listed entry or an event: the contract carries both the same way."""
        return cls(
            token_id=entry.token_id,
            subject=entry.subject,
            session_id=entry.session_id,
            issued_before=entry.issued_before.ToNanoseconds() / 1e9,
            expires_at=float(entry.expire_time.seconds),
        )


class RevocationCache:
    """Revoked `jti`s and the cut-offs of sessions and subjects, each with the time until it
    matters; `is_revoked` is a TokenVerifier check."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._tokens: dict[str, float] = {}  # jti -> expiry
        # (subject, session or "") -> the latest cut-off: it covers every earlier one
        self._cuts: dict[tuple[str, str], Revocation] = {}
        self._pruned_at = clock()

    def add(self, revocation: Revocation) -> None:
        if revocation.expires_at <= self._clock():
            return
        if revocation.token_id:
            known = self._tokens.get(revocation.token_id, 0.0)
            self._tokens[revocation.token_id] = max(revocation.expires_at, known)
            return
        key = (revocation.subject, revocation.session_id)
        known_cut = self._cuts.get(key)
        if known_cut is None or known_cut.issued_before < revocation.issued_before:
            self._cuts[key] = revocation

    def prune(self) -> None:
        now = self._pruned_at = self._clock()
        self._tokens = {jti: exp for jti, exp in self._tokens.items() if exp > now}
        self._cuts = {key: cut for key, cut in self._cuts.items() if cut.expires_at > now}

    def __len__(self) -> int:
        return len(self._tokens) + len(self._cuts)

    def covers(self, identity: Identity) -> bool:
        """Whether an entry still in force covers the verified token."""
        now = self._clock()
        if self._tokens.get(identity.token_id, 0.0) > now:
            return True
        for session in {"", identity.session_id}:
            cut = self._cuts.get((identity.subject, session))
            if cut is not None and cut.expires_at > now and identity.issued_at < cut.issued_before:
                return True
        return False

    async def is_revoked(self, identity: Identity) -> bool:
        """`covers`, async to fit `authn.RevocationCheck`."""
        return self.covers(identity)

    def on_event(self, event: events_pb2.AccessTokenRevokedEvent) -> None:
        self.add(Revocation.of(event))
        if self._clock() - self._pruned_at > PRUNE_EVERY:  # keeps the dicts bounded
            self.prune()


class AuthDenylist:
    """Every live denylist entry from `AuthService.ListRevokedTokens` at `address`, asked with
    this service's own token (the channel is created inside the running loop)."""

    def __init__(self, address: str, identity: ServiceIdentity) -> None:
        self._address = address
        self._identity = identity
        self._channel: grpc.aio.Channel | None = None

    async def __call__(self) -> list[Revocation]:
        self._channel = self._channel or service_identity.channel(self._address, self._identity)
        stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        entries: list[Revocation] = []
        page_token = ""
        while True:
            request = auth_pb2.ListRevokedTokensRequest(
                page_size=LIST_PAGE_SIZE, page_token=page_token
            )
            reply = await stub.ListRevokedTokens(request, timeout=LIST_TIMEOUT)
            entries += [Revocation.of(entry) for entry in reply.revoked_tokens]
            page_token = reply.next_page_token
            if not page_token:
                return entries

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()


LoadRevoked = Callable[[], Awaitable[list[Revocation]]]


class RevocationFeed:
    """Fills a RevocationCache from NATS events and, where it can, from the auth service: at
    start, every `reload_seconds`, and after a NATS reconnect."""

    def __init__(
        self,
        cache: RevocationCache,
        bus: Bus,
        load: LoadRevoked | None,
        listeners: Mapping[type[Message], OnEvent] | None = None,
        reload_seconds: float = RELOAD_SECONDS,
    ) -> None:
        """`listeners`: further auth events to hand, parsed, to a callback each."""
        self.cache = cache
        self._bus = bus
        self._load = load
        self._listeners = dict(listeners or {})
        self._reload_seconds = reload_seconds
        self._subscriptions: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.loaded = asyncio.Event()

    async def start(self) -> None:
        """Subscribe first, then load in the background (auth may not be up yet: the
        service must still start; until the load succeeds only events count)."""
        listeners: dict[type[Message], OnEvent] = {
            events_pb2.AccessTokenRevokedEvent: self._on_revoked,
            **self._listeners,
        }
        for event_type, listener in listeners.items():
            self._subscriptions.append(
                await self._bus.listen(subject_of(event_type), _parsed(event_type, listener))
            )
        if self._load is None:
            log.warning(
                "no %s: revoked tokens come from events only; tokens revoked before this "
                "process started, or whose event was lost, are accepted until they expire",
                service_identity.SECRET_ENV,
            )
            return
        self._tasks.append(asyncio.create_task(self._keep_loading(), name="revocations"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for subscription in self._subscriptions:
            with contextlib.suppress(Exception):
                await subscription.stop()
        if isinstance(self._load, AuthDenylist):
            await self._load.close()

    def _on_revoked(self, event: Message) -> None:
        assert isinstance(event, events_pb2.AccessTokenRevokedEvent)
        self.cache.on_event(event)

    async def _keep_loading(self) -> None:
        """Load now, then again every `reload_seconds`, and at once when NATS reconnected
        (events published while it was away were missed). An event can be lost without a
        reconnect too (a slow consumer, a publish that failed at auth): the reload bounds how
        long such a revocation goes unseen."""
        await self._load_until_done()
        reconnects = self._bus.nc.stats.get("reconnects", 0)
        loaded_at = time.monotonic()
        while True:
            await asyncio.sleep(min(RECONNECT_CHECK, self._reload_seconds))
            now = self._bus.nc.stats.get("reconnects", 0)
            reconnected = now != reconnects and self._bus.nc.is_connected
            if reconnected or time.monotonic() - loaded_at >= self._reload_seconds:
                reconnects = now
                await self._load_until_done()
                loaded_at = time.monotonic()

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
            for entry in entries:
                self.cache.add(entry)
            self.cache.prune()
            if not self.loaded.is_set():
                log.info("revocations: %d denylist entries loaded", len(self.cache))
            self.loaded.set()
            return


def _parsed(event_type: type[Message], listener: OnEvent) -> Callable[[Msg], Awaitable[None]]:
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
    listeners: Mapping[type[Message], OnEvent] | None = None,
) -> RevocationFeed:
    """The running feed of this process, loading through its service identity when it has one."""
    load = AuthDenylist(auth_address, identity) if identity is not None else None
    feed = RevocationFeed(RevocationCache(), bus, load, listeners)
    await feed.start()
    return feed
