"""tasks: webhooks and their deliveries (each delivery names the task that carries it).

A branch of its own (`tasks_webhooks`, upgraded with every head at start): these tables refer
to no other table, so their history does not have to wait in line behind the scheduler's.

Revision ID: tasks_webhooks_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tasks_webhooks_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("tasks_webhooks",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks_webhooks",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("target_uri", sa.Text(), nullable=False),
        sa.Column("event_subjects", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sealed_secret", sa.Text(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_tasks_webhooks_owner", "tasks_webhooks", ["owner", "create_time", "id"])
    op.create_table(
        "tasks_webhook_deliveries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("webhook_id", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_subject", sa.String(200), nullable=False),
        sa.Column("task_id", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_tasks_webhook_deliveries_webhook",
        "tasks_webhook_deliveries",
        ["webhook_id", "create_time", "id"],
    )


def downgrade() -> None:
    op.drop_table("tasks_webhook_deliveries")
    op.drop_table("tasks_webhooks")
