"""speech: text entries (a recording of a known text, its transcript and word error rate), and
the actor of a transcription job (the service that asked on its owner's behalf).

Revision ID: speech_0002
Revises: speech_0001
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "speech_0002"
down_revision: str | Sequence[str] | None = "speech_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "speech_text_entries",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("original_text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=False),
        sa.Column("word_error_rate", sa.Float(), nullable=False),
        sa.Column("reference_words", sa.Integer(), nullable=False),
        sa.Column("substitutions", sa.Integer(), nullable=False),
        sa.Column("deletions", sa.Integer(), nullable=False),
        sa.Column("insertions", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(100), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    # One owner's entries newest first (id breaks ties); admins' lists across owners. The text
    # search scans the owner's rows: entries are few per user, and LIKE '%...%' uses no index.
    op.create_index(
        "ix_speech_text_entries_owner_created",
        "speech_text_entries",
        ["owner", "create_time", "id"],
    )
    op.create_index("ix_speech_text_entries_created", "speech_text_entries", ["create_time", "id"])
    with op.batch_alter_table("speech_transcriptions") as batch:
        batch.add_column(
            sa.Column("actor", sa.String(200), nullable=False, server_default=""),
        )


def downgrade() -> None:
    with op.batch_alter_table("speech_transcriptions") as batch:
        batch.drop_column("actor")
    op.drop_table("speech_text_entries")
