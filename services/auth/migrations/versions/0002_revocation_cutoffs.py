"""auth: the denylist holds cut-offs besides single tokens — every token of a session, an API key
or a user issued before a time — so it gets a row id of its own; sessions no longer keep their
last access token, which a session's cut-off covers.

Revision ID: auth_0002
Revises: auth_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0002"
down_revision: str | Sequence[str] | None = "auth_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "auth_revocations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("token_id", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("issued_before", TS),
        sa.Column("expire_time", TS, nullable=False),
        sa.Column("revoke_time", TS, nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
    )
    op.create_index("ix_auth_revocations_token", "auth_revocations", ["token_id"])
    op.create_index("ix_auth_revocations_subject", "auth_revocations", ["subject"])
    op.execute(
        "INSERT INTO auth_revocations (id, token_id, subject, session_id, issued_before,"
        " expire_time, revoke_time, reason)"
        " SELECT jti, jti, subject, '', NULL, expire_time, revoke_time, reason"
        " FROM auth_revoked_tokens"
    )
    op.drop_table("auth_revoked_tokens")
    op.drop_column("auth_sessions", "last_access_jti")
    op.drop_column("auth_sessions", "last_access_expire_time")


def downgrade() -> None:
    """Cut-offs have no single `jti`: only the token entries go back, and sessions get an
    already expired last token."""
    long_ago = sa.text("'1970-01-01 00:00:00+00:00'")
    op.add_column(
        "auth_sessions",
        sa.Column("last_access_expire_time", TS, nullable=False, server_default=long_ago),
    )
    op.add_column(
        "auth_sessions",
        sa.Column("last_access_jti", sa.String(64), nullable=False, server_default=""),
    )
    op.create_table(
        "auth_revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("expire_time", TS, nullable=False),
        sa.Column("revoke_time", TS, nullable=False),
        sa.Column("reason", sa.Integer(), nullable=False),
    )
    op.execute(
        "INSERT INTO auth_revoked_tokens (jti, subject, expire_time, revoke_time, reason)"
        " SELECT token_id, subject, expire_time, revoke_time, reason FROM auth_revocations"
        " WHERE token_id <> ''"
    )
    op.drop_table("auth_revocations")
