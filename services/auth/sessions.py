"""Sessions (refresh-token families), access tokens and their revocation.

A session is opened by a login; each refresh uses up its refresh token and issues the next one.
Presenting a used one again means a copy leaked: the whole family is revoked. Revoking a
session cuts off every access token issued in it (`sid`), those of earlier refreshes too, so
they stop before their `exp`; revoking every session of a user (password change, disabled,
demoted, deleted) cuts off every token of the user, tokens exchanged for API keys included.
A cut-off names no token: it lasts one access-token lifetime, after which all it covered have
expired, so the denylist stays short however many tokens were issued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from google.protobuf import timestamp_pb2
from google.protobuf.message import Message

from services.auth import convert, store, tokens
from services.auth.settings import AuthSettings
from services.auth.store import Client, SessionRecord, Stores, UserRecord
from services.auth.tokens import AccessToken, TokenIssuer
from voka import wellknown
from voka.auth.v1 import events_pb2


@dataclass(frozen=True)
class Opened:
    """Tokens of a session just opened or refreshed."""

    session: str  # users/{user}/sessions/{session}
    access: AccessToken
    refresh_token: str
    refresh_expire_time: datetime

    def fields(self) -> dict[str, object]:
        """The token fields shared by LoginResponse, RefreshTokenResponse and others."""
        return {
            "access_token": self.access.token,
            "token_type": "Bearer",
            "expires_in": wellknown.duration(self.access.expires_at - self.access.issued_at),
            "access_token_expire_time": _stamp(self.access.expires_at),
            "refresh_token": self.refresh_token,
            "refresh_token_expire_time": convert.timestamp(self.refresh_expire_time),
            "session": self.session,
        }


@dataclass
class Revoked:
    """Sessions ended by one change, and the events that tell the mesh."""

    count: int = 0
    events: list[Message] = field(default_factory=list)


def roles_of(user: UserRecord) -> list[str]:
    return [convert.ROLE_NAMES.get(user.role, "user")]


class Sessions:
    """Opens, refreshes and revokes sessions inside the caller's transaction (`tx`)."""

    def __init__(self, settings: AuthSettings, issuer: TokenIssuer) -> None:
        self._settings = settings
        self._issuer = issuer

    async def open(self, tx: Stores, user: UserRecord, client: Client) -> Opened:
        moment = store.now()
        maximum = moment + timedelta(seconds=self._settings.auth_session_max_seconds)
        refresh_expire = min(
            moment + timedelta(seconds=self._settings.auth_refresh_token_seconds), maximum
        )
        session_id = store.new_id()
        access = self._issuer.issue(f"users/{user.id}", roles_of(user), session_id)
        await tx.sessions.insert(
            id=session_id,
            user_id=user.id,
            ip_address=client.ip_address,
            user_agent=client.user_agent,
            last_ip_address=client.ip_address,
            create_time=moment,
            expire_time=refresh_expire,
            max_expire_time=maximum,
        )
        secret = await self._new_refresh_token(tx, session_id, refresh_expire)
        return Opened(f"users/{user.id}/sessions/{session_id}", access, secret, refresh_expire)

    async def refresh(
        self, tx: Stores, session: SessionRecord, user: UserRecord, client: Client
    ) -> Opened:
        moment = store.now()
        refresh_expire = min(
            moment + timedelta(seconds=self._settings.auth_refresh_token_seconds),
            wellknown.utc(session.max_expire_time),
        )
        access = self._issuer.issue(f"users/{user.id}", roles_of(user), session.id)
        await tx.sessions.update(
            session.id,
            last_ip_address=client.ip_address,
            refresh_count=session.refresh_count + 1,
            last_refresh_time=moment,
            expire_time=refresh_expire,
        )
        secret = await self._new_refresh_token(tx, session.id, refresh_expire)
        return Opened(f"users/{user.id}/sessions/{session.id}", access, secret, refresh_expire)

    async def _new_refresh_token(self, tx: Stores, session_id: str, expire_time: datetime) -> str:
        secret = tokens.new_refresh_token()
        await tx.refresh_tokens.insert(tokens.digest(secret), session_id, expire_time)
        return secret

    async def revoke(
        self,
        tx: Stores,
        rows: list[SessionRecord],
        reason: int,
        actor: str,
        revoked: Revoked,
    ) -> None:
        """End these sessions and cut off every access token issued in them."""
        moment = store.now()
        for row in rows:
            await self._end(tx, row, moment, reason=reason, actor=actor, revoked=revoked)
            await self.cut_off(tx, row.owner, row.id, moment, reason=reason, revoked=revoked)

    async def revoke_all(
        self, tx: Stores, user_id: str, reason: int, actor: str, revoked: Revoked
    ) -> None:
        """End every session of the user and cut off every access token issued to the user so
        far: its sessions' and those exchanged for its API keys (the keys themselves stay)."""
        moment = store.now()
        for row in await tx.sessions.active(user_id):
            await self._end(tx, row, moment, reason=reason, actor=actor, revoked=revoked)
        await self.cut_off(tx, f"users/{user_id}", "", moment, reason=reason, revoked=revoked)

    async def _end(
        self,
        tx: Stores,
        row: SessionRecord,
        moment: datetime,
        *,
        reason: int,
        actor: str,
        revoked: Revoked,
    ) -> None:
        await tx.sessions.update(row.id, revoke_time=moment)
        revoked.count += 1
        revoked.events.append(
            events_pb2.SessionRevokedEvent(
                user=row.owner,
                session=f"{row.owner}/sessions/{row.id}",
                reason=reason,  # type: ignore[arg-type]
                actor=actor,
                revoke_time=convert.timestamp(moment),
            )
        )

    async def cut_off(
        self,
        tx: Stores,
        subject: str,
        session_id: str,
        before: datetime,
        *,
        reason: int,
        revoked: Revoked,
    ) -> None:
        """Denylist every access token of `subject` (of session or API key `session_id` only,
        when set) issued before `before`, for as long as one of them can still be alive, and
        queue the event the other services' kits consume."""
        expire = before + timedelta(seconds=self._issuer.lifetime)
        row = await tx.revoked_tokens.cut(subject, session_id, before, expire, reason)
        revoked.events.append(convert.revoked_token_event(row))


async def deny(
    tx: Stores, jti: str, subject: str, expire: datetime, *, reason: int, revoked: Revoked
) -> None:
    """Denylist one access token and queue the event the other services' kits consume."""
    row = await tx.revoked_tokens.deny(jti, subject, expire, reason)
    if row is not None:
        revoked.events.append(convert.revoked_token_event(row))


def _datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=store.now().tzinfo)


def _stamp(epoch: float) -> timestamp_pb2.Timestamp | None:
    return convert.timestamp(_datetime(epoch))
