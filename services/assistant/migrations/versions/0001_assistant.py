"""assistant: conversations, their messages, users' hemisphere balances, async completions.

Revision ID: assistant_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "assistant_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("assistant",)
depends_on: str | Sequence[str] | None = None

TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "assistant_conversations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("technical", sa.Float(), nullable=True),
        sa.Column("emotional", sa.Float(), nullable=True),
        sa.Column("hemisphere_time", TIME, nullable=True),
        sa.Column("allowed_tools", sa.Text(), nullable=False),
        sa.Column("tool_timeout", sa.Float(), nullable=True),
        sa.Column("message_count", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.Column("update_time", TIME, nullable=False),
        sa.Column("last_message_time", TIME, nullable=True),
        sa.Column("activity_time", TIME, nullable=False),
    )
    op.create_index(
        "ix_assistant_conversations_owner_activity",
        "assistant_conversations",
        ["owner", "activity_time", "id"],
    )
    op.create_table(
        "assistant_messages",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "conversation_id",
            sa.String(32),
            sa.ForeignKey("assistant_conversations.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("turn", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.UniqueConstraint("conversation_id", "seq"),
    )
    op.create_table(
        "assistant_balances",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("technical", sa.Float(), nullable=False),
        sa.Column("emotional", sa.Float(), nullable=False),
        sa.Column("update_time", TIME, nullable=False),
    )
    op.create_table(
        "assistant_completions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", TIME, nullable=False),
        sa.UniqueConstraint("owner", "request_id"),
    )
    op.create_index(
        "ix_assistant_completions_owner_time", "assistant_completions", ["owner", "create_time"]
    )


def downgrade() -> None:
    op.drop_table("assistant_completions")
    op.drop_table("assistant_balances")
    op.drop_table("assistant_messages")
    op.drop_table("assistant_conversations")
