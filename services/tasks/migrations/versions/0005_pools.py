"""tasks: worker pool bounds (ControlScheduler's ResizePool) and the size the autoscaler wants,
kept in the database so every replica reports them and a new autoscaler continues from them.

Revision ID: tasks_0005
Revises: tasks_0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tasks_0005"
down_revision: str | Sequence[str] | None = "tasks_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks_pools",
        # One row per pool an operator bounded; a pool without a row is not autoscaled.
        sa.Column("worker_type", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("min_workers", sa.Integer(), nullable=False),
        sa.Column("max_workers", sa.Integer(), nullable=False),
        sa.Column("desired_workers", sa.Integer(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tasks_pools")
