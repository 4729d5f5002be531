"""The auth service's stores: one class per resource, each on the database session it is given.

Every change of the service commits with its audit entry, often touching several resources
(a password change ends the sessions, denylists their tokens, updates the user and writes the
audit log): so the stores take the session of the caller's transaction, and `Stores.on` puts
all of them on one. Queries return record dataclasses; `convert` turns them into messages.
Counters that concurrent requests move (failed logins) change in one UPDATE, never read in one
statement and written in another.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth.tables import (
    api_keys,
    audit_events,
    refresh_tokens,
    revoked_tokens,
    sessions,
    users,
)
from voka import pagination
from voka.auth.v1 import auth_pb2
from voka.authn import Identity
from voka.pagination import Listing, Page
from voka.wellknown import utc

R = TypeVar("R", bound=pagination.Identified)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Client:
    """Where a request came from, for sessions, the audit log and the per-address limits."""

    ip_address: str
    user_agent: str


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class UserRecord:
    """An account, with its preferences and login counters."""

    id: str
    username: str
    username_key: str
    email: str
    email_key: str
    display_name: str
    password_hash: str
    role: auth_pb2.Role.ValueType
    disabled: bool
    state_reason: str
    create_time: datetime
    update_time: datetime
    password_change_time: datetime
    last_login_time: datetime | None
    login_count: int
    failed_login_count: int
    consecutive_failures: int
    last_failed_login_time: datetime | None
    lock_expire_time: datetime | None
    language_code: str
    time_zone: str
    settings: dict[str, Any]
    preferences_update_time: datetime | None

    @property
    def name(self) -> str:
        """The user's resource name, which is also its owner's: a user owns itself."""
        return f"users/{self.id}"


@dataclass(frozen=True)
class SessionRecord:
    """A refresh-token family opened by one login."""

    id: str
    user_id: str
    ip_address: str
    user_agent: str
    last_ip_address: str
    refresh_count: int
    create_time: datetime
    last_refresh_time: datetime | None
    expire_time: datetime
    max_expire_time: datetime
    revoke_time: datetime | None

    @property
    def owner(self) -> str:
        return f"users/{self.user_id}"


@dataclass(frozen=True)
class RefreshTokenRecord:
    """One refresh token of a session (only its SHA-256 is kept)."""

    token_hash: str
    session_id: str
    used: bool
    expire_time: datetime


@dataclass(frozen=True)
class ApiKeyRecord:
    """An API key (its SHA-256 and lookup prefix, never the secret)."""

    id: str
    user_id: str
    display_name: str
    key_prefix: str
    secret_hash: str
    expire_time: datetime | None
    create_time: datetime
    last_used_time: datetime | None
    revoke_time: datetime | None

    @property
    def owner(self) -> str:
        return f"users/{self.user_id}"

    @property
    def name(self) -> str:
        return f"{self.owner}/api-keys/{self.id}"


@dataclass(frozen=True)
class RevokedTokenRecord:
    """A denylist entry, kept until every token it covers has expired: one access token
    (`token_id`, its `jti`), or a cut-off (`issued_before`): every token of `subject` — of the
    session or API key `session_id` only, when set — issued before that time."""

    id: str
    token_id: str
    subject: str
    session_id: str
    issued_before: datetime | None
    expire_time: datetime
    revoke_time: datetime
    reason: auth_pb2.RevocationReason.ValueType


@dataclass(frozen=True)
class AuditEventRecord:
    """One entry of the audit log; `seq` keeps the order of writing."""

    seq: int
    id: str
    type: auth_pb2.AuditEventType.ValueType
    event_time: datetime
    actor: str
    user: str
    login: str
    resource: str
    ip_address: str
    user_agent: str
    reason: str
    details: dict[str, Any]


# ---------------------------------------------------------------- list filters and orders


@dataclass(frozen=True)
class UserFilters:
    """What ListUsers asks for (a page token is bound to them)."""

    query: str = ""
    role: int = 0
    state: int = 0


@dataclass(frozen=True)
class AuditFilters:
    """What ListAuditEvents asks for (a page token is bound to them)."""

    types: tuple[int, ...] = ()
    user: str = ""
    ip_address: str = ""
    start_time: datetime | None = None
    end_time: datetime | None = None


USER_ORDER: pagination.Order[UserRecord] = pagination.Order(
    users.c.create_time, users.c.id, descending=True, kind="datetime",
    value=lambda r: r.create_time,
)  # fmt: skip
SESSION_ORDER: pagination.Order[SessionRecord] = pagination.Order(
    sa.func.coalesce(sessions.c.last_refresh_time, sessions.c.create_time), sessions.c.id,
    descending=True, kind="datetime", value=lambda r: r.last_refresh_time or r.create_time,
)  # fmt: skip
"""Most recently used first."""
API_KEY_ORDER: pagination.Order[ApiKeyRecord] = pagination.Order(
    api_keys.c.create_time, api_keys.c.id, descending=True, kind="datetime",
    value=lambda r: r.create_time,
)  # fmt: skip
REVOKED_TOKEN_ORDER: pagination.Order[RevokedTokenRecord] = pagination.Order(
    revoked_tokens.c.revoke_time, revoked_tokens.c.id, descending=False, kind="datetime",
    value=lambda r: r.revoke_time,
)  # fmt: skip
"""Oldest first: a kit loading the denylist reads it in the order it grew."""
AUDIT_ORDER: pagination.Order[AuditEventRecord] = pagination.Order(
    audit_events.c.seq, audit_events.c.id, descending=True, kind="int", value=lambda r: r.seq
)
"""Newest first, in the order the entries were written."""


async def _page(
    db: AsyncSession,
    table: sa.Table,
    clauses: Sequence[sa.ColumnElement[bool]],
    order: pagination.Order[R],
    page: Page,
    *,
    record: Callable[..., R],
    count: bool = False,
) -> Listing[R]:
    """One keyset page of `table` in `order`; with `count`, how many rows match in all."""
    query = sa.select(table).where(*clauses)
    if page.cursor is not None:
        query = query.where(order.after(page.cursor))
    rows = (await db.execute(query.order_by(*order.clauses()).limit(page.size + 1))).all()
    total = 0
    if count:
        counted = sa.select(sa.func.count()).select_from(table).where(*clauses)
        total = int((await db.execute(counted)).scalar_one())
    items = [record(**row._mapping) for row in rows[: page.size]]
    return Listing(items, len(rows) > page.size, total)


# ---------------------------------------------------------------- stores


class UserStore:
    """Accounts: the only store that deletes across tables (an account takes its sessions,
    refresh tokens and API keys with it)."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def get(self, user_id: str, *, lock: bool = False) -> UserRecord | None:
        """The account; with `lock`, its row stays locked until the transaction ends, so a
        read-modify-write of it (merging preferences) cannot lose a concurrent one's change
        under PostgreSQL's READ COMMITTED. SQLite's single writer needs no lock."""
        query = sa.select(users).where(users.c.id == user_id)
        if lock:
            query = query.with_for_update()
        row = (await self._db.execute(query)).first()
        return UserRecord(**row._mapping) if row else None

    async def by_login(self, username_key: str, email_key: str) -> UserRecord | None:
        query = sa.select(users).where(
            sa.or_(users.c.username_key == username_key, users.c.email_key == email_key)
        )
        row = (await self._db.execute(query)).first()
        return UserRecord(**row._mapping) if row else None

    async def taken(self, column: str, key: str, except_id: str = "") -> bool:
        """Whether another account holds this username or email key."""
        query = sa.select(users.c.id).where(users.c[column] == key, users.c.id != except_id)
        return (await self._db.execute(query)).first() is not None

    async def insert(self, **values: Any) -> UserRecord:
        moment = now()
        row = {
            "id": new_id(),
            "display_name": "",
            "role": auth_pb2.ROLE_USER,
            "disabled": False,
            "state_reason": "",
            "create_time": moment,
            "update_time": moment,
            "password_change_time": moment,
            "login_count": 0,
            "failed_login_count": 0,
            "consecutive_failures": 0,
            "language_code": "",
            "time_zone": "",
            "settings": {},
            **values,
        }
        await self._db.execute(sa.insert(users).values(row))
        return await self._reread(row["id"])

    async def update(self, user_id: str, **values: Any) -> UserRecord:
        await self._db.execute(sa.update(users).where(users.c.id == user_id).values(values))
        return await self._reread(user_id)

    async def count_failure(self, user_id: str, threshold: int, lock_until: datetime) -> UserRecord:
        """Count one failed login, in one UPDATE so that concurrent failures each count (a read
        before the password check and a write after it would let them overwrite each other).
        The failure that brings the run to `threshold` while the account is not locked locks it
        until `lock_until`. Answers the account as it is now."""
        moment = now()
        failures = users.c.consecutive_failures + 1
        unlocked = sa.or_(users.c.lock_expire_time.is_(None), users.c.lock_expire_time <= moment)
        locks = sa.and_(failures >= threshold, unlocked)
        lock_type = users.c.lock_expire_time.type
        lock = sa.case((locks, sa.literal(lock_until, lock_type)), else_=users.c.lock_expire_time)
        return await self._counted(
            user_id,
            failed_login_count=users.c.failed_login_count + 1,
            consecutive_failures=failures,
            last_failed_login_time=moment,
            lock_expire_time=lock,
        )

    async def count_login(self, user_id: str) -> UserRecord:
        """Count a successful login (one UPDATE too); it ends a run of failures and any lock."""
        return await self._counted(
            user_id,
            login_count=users.c.login_count + 1,
            consecutive_failures=0,
            lock_expire_time=None,
            last_login_time=now(),
        )

    async def _counted(self, user_id: str, **values: Any) -> UserRecord:
        query = sa.update(users).where(users.c.id == user_id).values(values).returning(*users.c)
        return UserRecord(**(await self._db.execute(query)).one()._mapping)

    async def _reread(self, user_id: str) -> UserRecord:
        user = await self.get(user_id)
        assert user is not None
        return user

    async def delete(self, user_id: str) -> None:
        """Sessions, tokens and keys go with the account (explicitly: no reliance on
        cascades)."""
        session_ids = sa.select(sessions.c.id).where(sessions.c.user_id == user_id)
        await self._db.execute(
            sa.delete(refresh_tokens).where(refresh_tokens.c.session_id.in_(session_ids))
        )
        await self._db.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))
        await self._db.execute(sa.delete(api_keys).where(api_keys.c.user_id == user_id))
        await self._db.execute(sa.delete(users).where(users.c.id == user_id))

    async def admin_count(self) -> int:
        query = sa.select(sa.func.count()).where(users.c.role == auth_pb2.ROLE_ADMIN)
        return int((await self._db.execute(query)).scalar_one())

    async def page(self, filters: UserFilters, page: Page) -> Listing[UserRecord]:
        clauses = _user_clauses(filters)
        return await _page(
            self._db, users, clauses, USER_ORDER, page, record=UserRecord, count=True
        )


def _user_clauses(filters: UserFilters) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if filters.query:
        pattern = f"%{filters.query.lower()}%"
        clauses.append(
            sa.or_(
                sa.func.lower(users.c.username).like(pattern),
                users.c.email_key.like(pattern),
                sa.func.lower(users.c.display_name).like(pattern),
            )
        )
    if filters.role:
        clauses.append(users.c.role == filters.role)
    locked = sa.and_(users.c.lock_expire_time.is_not(None), users.c.lock_expire_time > now())
    if filters.state == auth_pb2.USER_STATE_DISABLED:
        clauses.append(users.c.disabled.is_(True))
    elif filters.state == auth_pb2.USER_STATE_LOCKED:
        clauses.extend([users.c.disabled.is_(False), locked])
    elif filters.state == auth_pb2.USER_STATE_ACTIVE:
        clauses.extend([users.c.disabled.is_(False), sa.not_(locked)])
    return clauses


class SessionStore:
    """Sessions: opened by a login, refreshed, revoked."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def insert(self, **values: Any) -> None:
        await self._db.execute(sa.insert(sessions).values(refresh_count=0, **values))

    async def get(self, session_id: str) -> SessionRecord | None:
        query = sa.select(sessions).where(sessions.c.id == session_id)
        row = (await self._db.execute(query)).first()
        return SessionRecord(**row._mapping) if row else None

    async def update(self, session_id: str, **values: Any) -> None:
        await self._db.execute(
            sa.update(sessions).where(sessions.c.id == session_id).values(values)
        )

    async def active(self, user_id: str) -> list[SessionRecord]:
        """Every live session of the user, most recently used first."""
        query = sa.select(sessions).where(*_active_sessions(user_id))
        rows = (await self._db.execute(query.order_by(*SESSION_ORDER.clauses()))).all()
        return [SessionRecord(**row._mapping) for row in rows]

    async def page(self, user_id: str, page: Page) -> Listing[SessionRecord]:
        """A page of the user's live sessions (no total: the contract has none)."""
        clauses = _active_sessions(user_id)
        return await _page(self._db, sessions, clauses, SESSION_ORDER, page, record=SessionRecord)


def _active_sessions(user_id: str) -> list[sa.ColumnElement[bool]]:
    return [
        sessions.c.user_id == user_id,
        sessions.c.revoke_time.is_(None),
        sessions.c.expire_time > now(),
    ]


class RefreshTokenStore:
    """The refresh tokens of the sessions, each usable once."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def insert(self, token_hash: str, session_id: str, expire_time: datetime) -> None:
        await self._db.execute(
            sa.insert(refresh_tokens).values(
                token_hash=token_hash, session_id=session_id, used=False, expire_time=expire_time
            )
        )

    async def get(self, token_hash: str) -> RefreshTokenRecord | None:
        query = sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
        row = (await self._db.execute(query)).first()
        return RefreshTokenRecord(**row._mapping) if row else None

    async def use(self, token_hash: str) -> bool:
        """Mark the token used; False when it already was (two refreshes racing: one is
        reuse)."""
        result = await self._db.execute(
            sa.update(refresh_tokens)
            .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used.is_(False))
            .values(used=True)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


class ApiKeyStore:
    """API keys of the users."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def insert(self, **values: Any) -> ApiKeyRecord:
        key_id = new_id()
        await self._db.execute(sa.insert(api_keys).values(id=key_id, create_time=now(), **values))
        key = await self.get(values["user_id"], key_id)
        assert key is not None
        return key

    async def get(self, user_id: str, key_id: str) -> ApiKeyRecord | None:
        return await self._one(api_keys.c.id == key_id, api_keys.c.user_id == user_id)

    async def by_prefix(self, prefix: str) -> ApiKeyRecord | None:
        return await self._one(api_keys.c.key_prefix == prefix)

    async def _one(self, *clauses: sa.ColumnElement[bool]) -> ApiKeyRecord | None:
        row = (await self._db.execute(sa.select(api_keys).where(*clauses))).first()
        return ApiKeyRecord(**row._mapping) if row else None

    async def update(self, key_id: str, **values: Any) -> None:
        await self._db.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(values))

    async def page(self, user_id: str, show_inactive: bool, page: Page) -> Listing[ApiKeyRecord]:
        """A page of the user's keys, newest first (no total: the contract has none)."""
        clauses = [api_keys.c.user_id == user_id]
        if not show_inactive:
            clauses.extend(_active_keys())
        return await _page(self._db, api_keys, clauses, API_KEY_ORDER, page, record=ApiKeyRecord)

    async def figures(self, user_id: str) -> tuple[int, datetime | None]:
        """Active keys of the user, and the last time any of its keys was used."""
        active = sa.select(sa.func.count()).where(api_keys.c.user_id == user_id, *_active_keys())
        last = sa.select(sa.func.max(api_keys.c.last_used_time)).where(
            api_keys.c.user_id == user_id
        )
        count = int((await self._db.execute(active)).scalar_one())
        return count, (await self._db.execute(last)).scalar_one()


def _active_keys() -> list[sa.ColumnElement[bool]]:
    return [
        api_keys.c.revoke_time.is_(None),
        sa.or_(api_keys.c.expire_time.is_(None), api_keys.c.expire_time > now()),
    ]


EXPIRED_PER_WRITE = 100
"""Expired denylist entries deleted with each new one: far more than the one a write adds, so
expired entries cannot pile up."""


class RevokedTokenStore:
    """The access-token denylist (entries leave the lists once every token they cover expired)."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def deny(
        self, jti: str, subject: str, expire_time: datetime, reason: int
    ) -> RevokedTokenRecord | None:
        """Put one still-valid access token on the denylist; None when it already was or
        expired."""
        if not jti or utc(expire_time) <= now():
            return None
        listed = sa.select(revoked_tokens.c.id).where(revoked_tokens.c.token_id == jti)
        if (await self._db.execute(listed)).first() is not None:
            return None
        return await self._insert(
            token_id=jti, subject=subject, session_id="", issued_before=None,
            expire_time=expire_time, reason=reason,
        )  # fmt: skip

    async def cut(
        self, subject: str, session_id: str, before: datetime, expire_time: datetime, reason: int
    ) -> RevokedTokenRecord:
        """Revoke every token of `subject` (of session or API key `session_id` only, when set)
        issued before `before`; the entry lasts until `expire_time`, when all have expired."""
        return await self._insert(
            token_id="", subject=subject, session_id=session_id, issued_before=before,
            expire_time=expire_time, reason=reason,
        )  # fmt: skip

    async def _insert(self, **values: Any) -> RevokedTokenRecord:
        await self.forget_expired()
        row = {"id": new_id(), "revoke_time": now(), **values}
        await self._db.execute(sa.insert(revoked_tokens).values(row))
        return RevokedTokenRecord(**row)

    async def forget_expired(self, limit: int = EXPIRED_PER_WRITE) -> int:
        """Deletes up to `limit` entries whose tokens have all expired. Each new entry clears
        some in its own transaction, so the table holds about the entries in force whatever the
        years of revocations behind it, with no sweeper to run; a quiet denylist does not grow."""
        table = revoked_tokens
        doomed = sa.select(table.c.id).where(table.c.expire_time <= now()).limit(limit)
        result = await self._db.execute(sa.delete(table).where(table.c.id.in_(doomed)))
        return int(getattr(result, "rowcount", 0) or 0)

    async def covers(self, identity: Identity) -> bool:
        """Whether an entry still in force covers this verified access token."""
        table = revoked_tokens
        issued = datetime.fromtimestamp(identity.issued_at, UTC)
        token = sa.and_(table.c.token_id != "", table.c.token_id == identity.token_id)
        cut = sa.and_(
            table.c.token_id == "",
            table.c.subject == identity.subject,
            table.c.session_id.in_(("", identity.session_id)),
            table.c.issued_before > issued,
        )
        query = sa.select(table.c.id).where(table.c.expire_time > now(), token | cut).limit(1)
        return (await self._db.execute(query)).first() is not None

    async def page(self, after: datetime | None, page: Page) -> Listing[RevokedTokenRecord]:
        """Entries in force revoked after `after` (None: all), oldest first."""
        clauses = [revoked_tokens.c.expire_time > now()]
        if after is not None:
            clauses.append(revoked_tokens.c.revoke_time > after)
        return await _page(
            self._db, revoked_tokens, clauses, REVOKED_TOKEN_ORDER, page, record=RevokedTokenRecord
        )


class AuditStore:
    """The audit log: written with the change it records, read by admins."""

    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def record(
        self,
        event_type: int,
        client: Client,
        *,
        actor: str = "",
        user: str = "",
        login: str = "",
        resource: str = "",
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        await self._db.execute(
            sa.insert(audit_events).values(
                id=new_id(),
                type=event_type,
                event_time=now(),
                actor=actor[:200],
                user=user[:200],
                login=login[:254],
                resource=resource[:300],
                ip_address=client.ip_address[:64],
                user_agent=client.user_agent[:500],
                reason=reason[:500],
                details=details or {},
            )
        )

    async def get(self, event_id: str) -> AuditEventRecord | None:
        query = sa.select(audit_events).where(audit_events.c.id == event_id)
        row = (await self._db.execute(query)).first()
        return AuditEventRecord(**row._mapping) if row else None

    async def page(self, filters: AuditFilters, page: Page) -> Listing[AuditEventRecord]:
        table = audit_events
        clauses: list[sa.ColumnElement[bool]] = []
        if filters.types:
            clauses.append(table.c.type.in_(filters.types))
        if filters.user:
            clauses.append((table.c.user == filters.user) | (table.c.actor == filters.user))
        if filters.ip_address:
            clauses.append(table.c.ip_address == filters.ip_address)
        if filters.start_time is not None:
            clauses.append(table.c.event_time >= filters.start_time)
        if filters.end_time is not None:
            clauses.append(table.c.event_time < filters.end_time)
        return await _page(
            self._db, table, clauses, AUDIT_ORDER, page, record=AuditEventRecord, count=True
        )


@dataclass(frozen=True)
class Stores:
    """Every store of the service on one database session: what one transaction touches
    commits (or rolls back) together."""

    users: UserStore
    sessions: SessionStore
    refresh_tokens: RefreshTokenStore
    api_keys: ApiKeyStore
    revoked_tokens: RevokedTokenStore
    audit: AuditStore

    @classmethod
    def on(cls, db: AsyncSession) -> Stores:
        return cls(
            UserStore(db),
            SessionStore(db),
            RefreshTokenStore(db),
            ApiKeyStore(db),
            RevokedTokenStore(db),
            AuditStore(db),
        )
