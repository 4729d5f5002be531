"""auth: users (with preferences and login counters), sessions, refresh tokens, API keys, the
access-token denylist and the audit log.

Revision ID: auth_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("auth",)
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_users",
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
    op.create_index("ix_auth_users_create_time", "auth_users", ["create_time"])
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("auth_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
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
    op.create_index("ix_auth_sessions_user", "auth_sessions", ["user_id"])
    op.create_table(
        "auth_refresh_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(32),
            sa.ForeignKey("auth_sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("expire_time", TS, nullable=False),
    )
    op.create_index("ix_auth_refresh_tokens_session", "auth_refresh_tokens", ["session_id"])
    op.create_table(
        "auth_api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("auth_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("key_prefix", sa.String(16), nullable=False, unique=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("expire_time", TS),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("last_used_time", TS),
        sa.Column("revoke_time", TS),
    )
    op.create_index("ix_auth_api_keys_user", "auth_api_keys", ["user_id"])
    op.create_table(
        "auth_revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("expire_time", TS, nullable=False),
        sa.Column("revoke_time", TS, nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
    )
    op.create_table(
        "auth_audit_events",
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
    op.create_index("ix_auth_audit_events_user", "auth_audit_events", ["user"])


def downgrade() -> None:
    for table in (
        "auth_audit_events",
        "auth_revoked_tokens",
        "auth_api_keys",
        "auth_refresh_tokens",
        "auth_sessions",
        "auth_users",
    ):
        op.drop_table(table)
