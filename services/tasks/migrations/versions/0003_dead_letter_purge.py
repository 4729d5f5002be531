"""tasks: purged dead letters (PurgeDeadLetters, AIP-165): the task stays DEAD_LETTERED, the dead
letter is gone (no longer listed, no longer retried).

Revision ID: tasks_0003
Revises: tasks_0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tasks_0003"
down_revision: str | Sequence[str] | None = "tasks_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks_tasks") as table:
        table.add_column(sa.Column("purge_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks_tasks") as table:
        table.drop_column("purge_time")
