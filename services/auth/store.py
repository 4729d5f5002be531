"""The auth service's tables and the queries on them.

Each function takes the caller's session, so a change and its audit entry commit together. Rows
come back as SQLAlchemy rows; `convert` turns them into contract messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from voka.auth.v1 import auth_pb2
from voka.wellknown import utc

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)
Row = sa.Row[Any]

users = sa.Table(
    "auth_users",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("username_key", sa.String(64), nullable=False, unique=True),
    sa.Column("email", sa.String(254), nullable=False),
    sa.Column("email_key", sa.String(254), nullable=False, unique=True),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.Integer(), nullable=False),
    sa.Column("disabled", sa.Boolean(), nullable=False),
    sa.Column("state_reason", sa.String(500), nullable=False),
    sa.Column("create_time", TS, nullable=False),
    sa.Column("update_time", TS, nullable=False),
    sa.Column("password_change_time", TS, nullable=False),
    sa.Column("last_login_time", TS),
    sa.Column("login_count", sa.Integer(), nullable=False),
    sa.Column("failed_login_count", sa.Integer(), nullable=False),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False),
    sa.Column("last_failed_login_time", TS),
    sa.Column("lock_expire_time", TS),
    sa.Column("language_code", sa.String(35), nullable=False),
    sa.Column("time_zone", sa.String(64), nullable=False),
    sa.Column("settings", sa.JSON(), nullable=False),
    sa.Column("preferences_update_time", TS),
)

sessions = sa.Table(
    "auth_sessions",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("auth_users.id"), nullable=False),
    sa.Column("ip_address", sa.String(64), nullable=False),
    sa.Column("user_agent", sa.String(500), nullable=False),
    sa.Column("last_ip_address", sa.String(64), nullable=False),
    sa.Column("refresh_count", sa.Integer(), nullable=False),
    sa.Column("create_time", TS, nullable=False),
    sa.Column("last_refresh_time", TS),
    sa.Column("expire_time", TS, nullable=False),
    sa.Column("max_expire_time", TS, nullable=False),
    sa.Column("revoke_time", TS),
    sa.Column("last_access_jti", sa.String(64), nullable=False),
    sa.Column("last_access_expire_time", TS, nullable=False),
)

refresh_tokens = sa.Table(
    "auth_refresh_tokens",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("session_id", sa.String(32), sa.ForeignKey("auth_sessions.id"), nullable=False),
    sa.Column("used", sa.Boolean(), nullable=False),
    sa.Column("expire_time", TS, nullable=False),
)

api_keys = sa.Table(
    "auth_api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("user_id", sa.String(32), sa.ForeignKey("auth_users.id"), nullable=False),
    sa.Column("display_name", sa.String(100), nullable=False),
    sa.Column("key_prefix", sa.String(16), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("expire_time", TS),
    sa.Column("create_time", TS, nullable=False),
    sa.Column("last_used_time", TS),
    sa.Column("revoke_time", TS),
)

revoked_tokens = sa.Table(
    "auth_revoked_tokens",
    metadata,
    sa.Column("jti", sa.String(64), primary_key=True),
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("expire_time", TS, nullable=False),
    sa.Column("revoke_time", TS, nullable=False),
    sa.Column("reason", sa.Integer(), nullable=False),
)

audit_events = sa.Table(
    "auth_audit_events",
    metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(32), nullable=False, unique=True),
    sa.Column("type", sa.Integer(), nullable=False),
    sa.Column("event_time", TS, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("login", sa.String(254), nullable=False),
    sa.Column("resource", sa.String(300), nullable=False),
    sa.Column("ip_address", sa.String(64), nullable=False),
    sa.Column("user_agent", sa.String(500), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
)


def now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Page:
    """An offset page: the token is the offset, opaque to clients."""

    size: int
    offset: int

    @property
    def next_token(self) -> str:
        return str(self.offset + self.size)


@dataclass(frozen=True)
class Client:
    """Where a request came from, for sessions, the audit log and the per-address limits."""

    ip_address: str
    user_agent: str


# ---------------------------------------------------------------- users


async def user_by_id(db: AsyncSession, user_id: str) -> Row | None:
    return (await db.execute(sa.select(users).where(users.c.id == user_id))).first()


async def user_by_login(db: AsyncSession, username_key: str, email_key: str) -> Row | None:
    query = sa.select(users).where(
        sa.or_(users.c.username_key == username_key, users.c.email_key == email_key)
    )
    return (await db.execute(query)).first()


async def taken(db: AsyncSession, column: str, key: str, except_id: str = "") -> bool:
    """Whether another account holds this username or email key."""
    query = sa.select(users.c.id).where(users.c[column] == key, users.c.id != except_id)
    return (await db.execute(query)).first() is not None


async def insert_user(db: AsyncSession, **values: Any) -> Row:
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
    await db.execute(sa.insert(users).values(row))
    user = await user_by_id(db, row["id"])
    assert user is not None
    return user


async def update_user(db: AsyncSession, user_id: str, **values: Any) -> Row:
    await db.execute(sa.update(users).where(users.c.id == user_id).values(values))
    user = await user_by_id(db, user_id)
    assert user is not None
    return user


async def delete_user(db: AsyncSession, user_id: str) -> None:
    """Sessions, tokens and keys go with the account (explicitly: no reliance on cascades)."""
    session_ids = sa.select(sessions.c.id).where(sessions.c.user_id == user_id)
    await db.execute(sa.delete(refresh_tokens).where(refresh_tokens.c.session_id.in_(session_ids)))
    await db.execute(sa.delete(sessions).where(sessions.c.user_id == user_id))
    await db.execute(sa.delete(api_keys).where(api_keys.c.user_id == user_id))
    await db.execute(sa.delete(users).where(users.c.id == user_id))


async def admin_count(db: AsyncSession) -> int:
    query = sa.select(sa.func.count()).where(users.c.role == auth_pb2.ROLE_ADMIN)
    return int((await db.execute(query)).scalar_one())


def user_filters(query: str, role: int, state: int) -> list[Any]:
    clauses: list[Any] = []
    if query:
        pattern = f"%{query.lower()}%"
        clauses.append(
            sa.or_(
                sa.func.lower(users.c.username).like(pattern),
                users.c.email_key.like(pattern),
                sa.func.lower(users.c.display_name).like(pattern),
            )
        )
    if role:
        clauses.append(users.c.role == role)
    locked = sa.and_(users.c.lock_expire_time.is_not(None), users.c.lock_expire_time > now())
    if state == auth_pb2.USER_STATE_DISABLED:
        clauses.append(users.c.disabled.is_(True))
    elif state == auth_pb2.USER_STATE_LOCKED:
        clauses.extend([users.c.disabled.is_(False), locked])
    elif state == auth_pb2.USER_STATE_ACTIVE:
        clauses.extend([users.c.disabled.is_(False), sa.not_(locked)])
    return clauses


async def list_users(db: AsyncSession, clauses: list[Any], page: Page) -> tuple[list[Row], int]:
    total = await db.execute(sa.select(sa.func.count()).select_from(users).where(*clauses))
    query = (
        sa.select(users)
        .where(*clauses)
        .order_by(users.c.create_time.desc(), users.c.id.desc())
        .limit(page.size)
        .offset(page.offset)
    )
    return list((await db.execute(query)).all()), int(total.scalar_one())


# ---------------------------------------------------------------- sessions and refresh tokens


async def insert_session(db: AsyncSession, **values: Any) -> str:
    session_id = new_id()
    await db.execute(sa.insert(sessions).values(id=session_id, refresh_count=0, **values))
    return session_id


async def session_by_id(db: AsyncSession, session_id: str) -> Row | None:
    return (await db.execute(sa.select(sessions).where(sessions.c.id == session_id))).first()


async def update_session(db: AsyncSession, session_id: str, **values: Any) -> None:
    await db.execute(sa.update(sessions).where(sessions.c.id == session_id).values(values))


async def active_sessions(db: AsyncSession, user_id: str, page: Page | None = None) -> list[Row]:
    query = (
        sa.select(sessions)
        .where(
            sessions.c.user_id == user_id,
            sessions.c.revoke_time.is_(None),
            sessions.c.expire_time > now(),
        )
        .order_by(
            sa.func.coalesce(sessions.c.last_refresh_time, sessions.c.create_time).desc(),
            sessions.c.id,
        )
    )
    if page is not None:
        query = query.limit(page.size).offset(page.offset)
    return list((await db.execute(query)).all())


async def insert_refresh_token(
    db: AsyncSession, token_hash: str, session_id: str, expire_time: datetime
) -> None:
    await db.execute(
        sa.insert(refresh_tokens).values(
            token_hash=token_hash, session_id=session_id, used=False, expire_time=expire_time
        )
    )


async def refresh_token(db: AsyncSession, token_hash: str) -> Row | None:
    query = sa.select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
    return (await db.execute(query)).first()


async def use_refresh_token(db: AsyncSession, token_hash: str) -> bool:
    """Mark the token used; False when it already was (two refreshes racing: one is reuse)."""
    result = await db.execute(
        sa.update(refresh_tokens)
        .where(refresh_tokens.c.token_hash == token_hash, refresh_tokens.c.used.is_(False))
        .values(used=True)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


# ---------------------------------------------------------------- denylist


async def deny(
    db: AsyncSession, jti: str, subject: str, expire_time: datetime, reason: int
) -> bool:
    """Put a still-valid access token on the denylist; False when it already was or expired."""
    if not jti or utc(expire_time) <= now():
        return False
    if (
        await db.execute(sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti))
    ).first():
        return False
    await db.execute(
        sa.insert(revoked_tokens).values(
            jti=jti, subject=subject, expire_time=expire_time, revoke_time=now(), reason=reason
        )
    )
    return True


async def is_denied(db: AsyncSession, jti: str) -> bool:
    query = sa.select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti)
    return (await db.execute(query)).first() is not None


async def denied_tokens(db: AsyncSession, after: datetime | None, page: Page) -> list[Row]:
    clauses = [revoked_tokens.c.expire_time > now()]
    if after is not None:
        clauses.append(revoked_tokens.c.revoke_time > after)
    query = (
        sa.select(revoked_tokens)
        .where(*clauses)
        .order_by(revoked_tokens.c.revoke_time, revoked_tokens.c.jti)
        .limit(page.size)
        .offset(page.offset)
    )
    return list((await db.execute(query)).all())


# ---------------------------------------------------------------- API keys


async def insert_api_key(db: AsyncSession, **values: Any) -> Row:
    key_id = new_id()
    await db.execute(sa.insert(api_keys).values(id=key_id, create_time=now(), **values))
    key = await api_key_by_id(db, values["user_id"], key_id)
    assert key is not None
    return key


async def api_key_by_id(db: AsyncSession, user_id: str, key_id: str) -> Row | None:
    query = sa.select(api_keys).where(api_keys.c.id == key_id, api_keys.c.user_id == user_id)
    return (await db.execute(query)).first()


async def api_key_by_prefix(db: AsyncSession, prefix: str) -> Row | None:
    query = sa.select(api_keys).where(api_keys.c.key_prefix == prefix)
    return (await db.execute(query)).first()


def active_key_clauses() -> list[Any]:
    return [
        api_keys.c.revoke_time.is_(None),
        sa.or_(api_keys.c.expire_time.is_(None), api_keys.c.expire_time > now()),
    ]


async def list_api_keys(
    db: AsyncSession, user_id: str, show_inactive: bool, page: Page
) -> list[Row]:
    clauses = [api_keys.c.user_id == user_id]
    if not show_inactive:
        clauses.extend(active_key_clauses())
    query = (
        sa.select(api_keys)
        .where(*clauses)
        .order_by(api_keys.c.create_time.desc(), api_keys.c.id)
        .limit(page.size)
        .offset(page.offset)
    )
    return list((await db.execute(query)).all())


async def update_api_key(db: AsyncSession, key_id: str, **values: Any) -> None:
    await db.execute(sa.update(api_keys).where(api_keys.c.id == key_id).values(values))


async def api_key_figures(db: AsyncSession, user_id: str) -> tuple[int, datetime | None]:
    """Active keys of the user, and the last time any of its keys was used."""
    active = sa.select(sa.func.count()).where(api_keys.c.user_id == user_id, *active_key_clauses())
    last = sa.select(sa.func.max(api_keys.c.last_used_time)).where(api_keys.c.user_id == user_id)
    return int((await db.execute(active)).scalar_one()), (await db.execute(last)).scalar_one()


# ---------------------------------------------------------------- audit log


async def audit(
    db: AsyncSession,
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
    await db.execute(
        sa.insert(audit_events).values(
            id=new_id(),
            type=event_type,
            event_time=now(),
            actor=actor,
            user=user,
            login=login[:254],
            resource=resource,
            ip_address=client.ip_address[:64],
            user_agent=client.user_agent[:500],
            reason=reason[:500],
            details=details or {},
        )
    )


async def list_audit_events(
    db: AsyncSession, clauses: Sequence[Any], page: Page
) -> tuple[list[Row], int]:
    total = await db.execute(sa.select(sa.func.count()).select_from(audit_events).where(*clauses))
    query = (
        sa.select(audit_events)
        .where(*clauses)
        .order_by(audit_events.c.seq.desc())
        .limit(page.size)
        .offset(page.offset)
    )
    return list((await db.execute(query)).all()), int(total.scalar_one())


async def audit_event(db: AsyncSession, event_id: str) -> Row | None:
    query = sa.select(audit_events).where(audit_events.c.id == event_id)
    return (await db.execute(query)).first()
