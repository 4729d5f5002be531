"""voka_outbox: events written with the change that causes them, until JetStream acks them.

Revision ID: voka_0002
Revises: voka_0001
Create Date: 2026-01-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "voka_0002"
down_revision: str | Sequence[str] | None = "voka_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voka_outbox",
        # An increasing key gives "oldest first" without relying on clocks agreeing.
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("event_id", sa.String(64), nullable=False),
        # Services sharing one database (tests, small deployments) share this table too, as
        # they share voka_inbox: each relay publishes its own service's rows only.
        sa.Column("producer", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("suffix", sa.String(200), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("producer", "event_id", name="uq_voka_outbox_event"),
        if_not_exists=True,
    )
    # The relay reads only unsent rows: a partial index stays as small as the backlog.
    op.create_index(
        "ix_voka_outbox_pending",
        "voka_outbox",
        ["producer", "id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
        if_not_exists=True,
    )
    # Retention deletes by age: pruning scans this index, not the whole table.
    op.create_index("ix_voka_outbox_sent_at", "voka_outbox", ["sent_at"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_voka_outbox_sent_at", table_name="voka_outbox")
    op.drop_index("ix_voka_outbox_pending", table_name="voka_outbox")
    op.drop_table("voka_outbox")
