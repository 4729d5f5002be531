"""The auth service's tables (the migrations in migrations/versions create them).

Only the store classes (store.py) query them; everything else works with their records.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
TS = sa.DateTime(timezone=True)

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
    "auth_revocations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.String(64), nullable=False),  # '' for a cut-off
    sa.Column("subject", sa.String(200), nullable=False),
    sa.Column("session_id", sa.String(64), nullable=False),
    sa.Column("issued_before", TS),  # set for a cut-off
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
