"""meetings: passage vectors for search by meaning.

One row per searchable passage (a transcript segment, a summary, a meeting's title and agenda,
a project, a client, a chat message) holding its embedding. Each row references its source
with ON DELETE CASCADE, so deleting content deletes its vectors in the same transaction; the
source's update time when it was read tells the indexer which vectors are stale.

Revision ID: meetings_0004
Revises: meetings_0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "meetings_0004"
down_revision: str | Sequence[str] | None = "meetings_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "meetings_passage_vectors"


def _source(column: str, target: str) -> sa.Column[str]:
    return sa.Column(
        column, sa.String(32), sa.ForeignKey(target, ondelete="CASCADE"), nullable=True
    )


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("ref", sa.String(80), primary_key=True),
        # New with every write of the row: what the service's vector cache keys on.
        sa.Column("id", sa.String(32), nullable=False, unique=True),
        _source("meeting_id", "meetings_meetings.id"),
        sa.Column("recording_id", sa.String(32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        _source("project_id", "meetings_projects.id"),
        _source("client_id", "meetings_clients.id"),
        _source("chat_id", "meetings_chat_messages.id"),
        sa.Column("source_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["recording_id", "position"],
            ["meetings_transcript_segments.recording_id", "meetings_transcript_segments.position"],
            ondelete="CASCADE",
        ),
    )
    # Scoped scans join on these, and cascading deletes look rows up by them.
    for columns in (["meeting_id"], ["recording_id", "position"], ["project_id"],
                    ["client_id"], ["chat_id"]):  # fmt: skip
        op.create_index(f"ix_{TABLE}_{columns[0]}", TABLE, columns)


def downgrade() -> None:
    op.drop_table(TABLE)
