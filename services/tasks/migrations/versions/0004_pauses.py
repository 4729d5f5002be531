"""tasks: operator pauses (ControlScheduler) kept in the database, so they hold on every replica,
across a shard's change of owner and across restarts.

Revision ID: tasks_0004
Revises: tasks_0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tasks_0004"
down_revision: str | Sequence[str] | None = "tasks_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks_pauses",
        sa.Column("kind", sa.String(16), primary_key=True),  # "shard" or "worker_type"
        sa.Column("value", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tasks_pauses")
