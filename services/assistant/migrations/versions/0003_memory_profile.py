"""assistant: Vicky's memory (memories with their vectors), the adaptive profile and the
feedback it learns from, and conversations' `context_summary` (issue 19, item 2).

Revision ID: assistant_0003
Revises: assistant_0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0003"
down_revision: str | Sequence[str] | None = "assistant_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "assistant_conversations",
        sa.Column("context_summary", sa.Text(), nullable=False, server_default=""),
    )
    op.create_table(
        "assistant_memories",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(40), nullable=True),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("conversation", sa.String(80), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.Column("update_time", TIME, nullable=False),
    )
    op.create_index("ix_assistant_memories_owner", "assistant_memories", ["owner"])
    op.create_table(
        "assistant_profiles",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("technical", sa.Float(), nullable=True),
        sa.Column("emotional", sa.Float(), nullable=True),
        sa.Column("tone", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("verbosity", sa.Integer(), nullable=False),
        sa.Column("memory_enabled", sa.Boolean(), nullable=False),
        sa.Column("positive_feedback", sa.Integer(), nullable=False),
        sa.Column("negative_feedback", sa.Integer(), nullable=False),
        sa.Column("update_time", TIME, nullable=True),
    )
    op.create_table(
        "assistant_feedback",
        sa.Column("message", sa.String(120), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
    )
    op.create_index("ix_assistant_feedback_owner", "assistant_feedback", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_assistant_feedback_owner", "assistant_feedback")
    op.drop_table("assistant_feedback")
    op.drop_table("assistant_profiles")
    op.drop_index("ix_assistant_memories_owner", "assistant_memories")
    op.drop_table("assistant_memories")
    op.drop_column("assistant_conversations", "context_summary")
