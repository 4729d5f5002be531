"""tasks: shard leases (who serves which shard, until when, under which fencing epoch) and the
replicas' heartbeats that leases are balanced over.

Revision ID: tasks_0002
Revises: tasks_0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tasks_0002"
down_revision: str | Sequence[str] | None = "tasks_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tasks_shard_leases",
        sa.Column("shard", sa.Integer(), primary_key=True, autoincrement=False),
        # NULL: nobody serves the shard; a live replica takes it.
        sa.Column("owner", sa.String(200), nullable=True),
        # Raised on every change of owner; statements of a replica carry the epoch it
        # acquired, so one that lost the lease (however briefly) changes nothing.
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "tasks_replicas",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_time", sa.DateTime(timezone=True), nullable=False),
        # A draining replica holds no shards and takes none.
        sa.Column("draining", sa.Boolean(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tasks_replicas")
    op.drop_table("tasks_shard_leases")
