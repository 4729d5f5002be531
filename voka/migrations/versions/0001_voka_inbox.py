"""voka_inbox: event ids each consumer has already processed (idempotent handlers).

Revision ID: voka_0001
Revises:
Create Date: 2025-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "voka_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("voka",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voka_inbox",
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name="pk_voka_inbox"),
        # Services sharing one database (tests, small deployments) share this table too:
        # each runs this revision under its own version table; claims are per consumer.
        if_not_exists=True,
    )
    # Retention deletes by age: prune() scans this index, not the whole table.
    op.create_index(
        "ix_voka_inbox_processed_at", "voka_inbox", ["processed_at"], if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index("ix_voka_inbox_processed_at", table_name="voka_inbox")
    op.drop_table("voka_inbox")
