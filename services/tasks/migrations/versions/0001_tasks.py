"""tasks: the task table, the source of truth for every accepted task (dead letters included).

Revision ID: tasks_0001
Revises:
Create Date: 2025-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tasks_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("tasks",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks_tasks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("function_name", sa.String(200), nullable=False),
        sa.Column("args", sa.Text(), nullable=True),
        sa.Column("raw_args", sa.LargeBinary(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("worker_type", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("not_before_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deadline_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempt_timeout", sa.Float(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("shard_key", sa.String(200), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("dispatch_id", sa.String(32), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("dead_letter_reason", sa.Integer(), nullable=False),
        sa.Column("dead_letter_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dead_letter_retries", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        # An idempotency key names one task per owner; NULL (no key) never collides.
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_tasks_tasks_owner_key"),
    )
    # Listing one owner's tasks newest first (id breaks ties), optionally by state/priority.
    op.create_index("ix_tasks_tasks_owner_created", "tasks_tasks", ["owner", "create_time", "id"])
    op.create_index(
        "ix_tasks_tasks_owner_state", "tasks_tasks", ["owner", "state", "create_time", "id"]
    )
    op.create_index(
        "ix_tasks_tasks_owner_priority", "tasks_tasks", ["owner", "priority", "create_time", "id"]
    )
    op.create_index(
        "ix_tasks_tasks_owner_type", "tasks_tasks", ["owner", "worker_type", "create_time", "id"]
    )
    # Admins' lists across owners.
    op.create_index("ix_tasks_tasks_created", "tasks_tasks", ["create_time", "id"])
    # Rebuilding a shard's queues: its unfinished tasks.
    op.create_index("ix_tasks_tasks_shard_state", "tasks_tasks", ["shard", "state"])
    # The dead-letter queue, newest first.
    op.create_index(
        "ix_tasks_tasks_state_dead", "tasks_tasks", ["state", "dead_letter_time", "id"]
    )


def downgrade() -> None:
    op.drop_table("tasks_tasks")
