"""What every AuthService RPC shares: configuration, the stores and the outbox, transactions
that commit a change with its audit entry and its events, and the users that `users/{user}`
names point at (seen through the kit's tenancy rule: a user owns itself, admins see every user).

Every change commits with its audit entry and its events in one transaction: the events are
rows of the kit's outbox (`voka.outbox`), which its relay publishes once NATS takes them. A
revocation or an account's deletion published after the commit would be lost whenever NATS was
unreachable at that moment, and the other services would go on trusting the tokens and keeping
the data it ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.auth import validation as check
from services.auth.context import USER, ClientAddresses, parse, user_id_in
from services.auth.ratelimit import SlidingWindow
from services.auth.sessions import Revoked, Sessions, deny
from services.auth.settings import AuthSettings
from services.auth.store import Stores, UserRecord, UserStore
from services.auth.tokens import TokenIssuer
from voka import authn, errors, tenancy
from voka.auth.v1 import auth_pb2_grpc
from voka.outbox import Outbox

Context = grpc.aio.ServicerContext[Any, Any]


class AuthRpcs(auth_pb2_grpc.AuthServiceServicer):
    """The shared state and helpers of the AuthService RPCs (one resource per subclass)."""

    def __init__(
        self,
        settings: AuthSettings,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        issuer: TokenIssuer,
        jwks: Any,
    ) -> None:
        self._settings = settings
        self._db = sessions
        self._outbox = outbox
        self._issuer = issuer
        self._jwks = jwks
        self._sessions = Sessions(settings, issuer)
        self._clients = ClientAddresses(settings.gateway_secret.get_secret_value())
        window = settings.auth_ip_window_seconds
        self._ip_failures = SlidingWindow(settings.auth_ip_login_failures, window)
        self._ip_registrations = SlidingWindow(settings.auth_ip_registrations, window)

    @contextlib.asynccontextmanager
    async def _tx(self, events: list[Message] | None = None) -> AsyncIterator[Stores]:
        """The stores in one transaction; the `events` its body collected are written to the
        outbox as it ends, in the same transaction (none if it raises)."""
        async with self._db.begin() as db:
            yield Stores.on(db)
            for event in events or ():
                await self._outbox.add(db, event)

    @contextlib.asynccontextmanager
    async def _read(self) -> AsyncIterator[Stores]:
        """The stores for reading, outside a transaction."""
        async with self._db() as db:
            yield Stores.on(db)

    async def _named_user(self, users: UserStore, name: str, field: str) -> UserRecord:
        """The user a `users/{user}` name (in `field`) points at."""
        (user,) = parse(USER, name, field)
        return await self._user(users, user, "User", name)

    async def _user(
        self,
        users: UserStore,
        user: str,
        resource_type: str,
        name: str,
        *,
        services_too: bool = False,
        lock: bool = False,
    ) -> UserRecord:
        """The user of the `{user}` part of `name`, a `resource_type`: NOT_FOUND unless it
        exists and the caller may see it (with `services_too`, services see every user too;
        with `lock`, its row is locked for the rest of the transaction: `UserStore.get`)."""
        record = await users.get(user_id_in(user), lock=lock)
        if record is not None and services_too and authn.caller().is_service:
            return record
        tenancy.require_visible(record.name if record else None, resource_type, name)
        assert record is not None
        return record

    async def _unique(self, users: UserStore, username: str, email: str, own: str = "") -> None:
        if username and await users.taken("username_key", check.username_key(username), own):
            raise errors.already_exists("username", username)
        if email and await users.taken("email_key", email, own):
            raise errors.already_exists("email", email)

    def _take(self, window: SlidingWindow, key: str, what: str) -> None:
        """Count one attempt of the client address `key`, or refuse it when the window is full."""
        wait = window.take(key)
        if wait > 0:
            raise errors.resource_exhausted(
                f"too many {what} from this address", timedelta(seconds=wait)
            )


async def deny_bearer(tx: Stores, identity: authn.Identity, reason: int, revoked: Revoked) -> None:
    """Cut off the access token of the call itself (API-key callers have none)."""
    await deny(
        tx,
        identity.token_id,
        identity.subject,
        epoch(min(identity.expires_at, 4e9)),
        reason=reason,
        revoked=revoked,
    )


def epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)
