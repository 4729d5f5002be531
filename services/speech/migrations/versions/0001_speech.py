"""speech: asynchronous transcription jobs and users' voice samples.

Revision ID: speech_0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "speech_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("speech",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "speech_transcriptions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("config", sa.LargeBinary(), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("external_reference", sa.String(512), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("audio_path", sa.Text(), nullable=False),
        sa.Column("audio_seconds", sa.Float(), nullable=True),
        sa.Column("progress_percent", sa.Integer(), nullable=False),
        sa.Column("processed_seconds", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.LargeBinary(), nullable=True),
        sa.Column("worker", sa.String(200), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        # A request id names one job per owner (AIP-155); NULL (none given) never collides.
        sa.UniqueConstraint("owner", "request_id", name="uq_speech_transcriptions_request"),
    )
    # One owner's jobs newest first (id breaks ties); admins' lists across owners.
    op.create_index(
        "ix_speech_transcriptions_owner_created",
        "speech_transcriptions",
        ["owner", "create_time", "id"],
    )
    op.create_index(
        "ix_speech_transcriptions_created", "speech_transcriptions", ["create_time", "id"]
    )
    op.create_table(
        "speech_voice_samples",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("description", sa.String(1000), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("channel_count", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_speech_voice_samples_owner_created",
        "speech_voice_samples",
        ["owner", "create_time", "id"],
    )
    op.create_index(
        "ix_speech_voice_samples_created", "speech_voice_samples", ["create_time", "id"]
    )


def downgrade() -> None:
    op.drop_table("speech_voice_samples")
    op.drop_table("speech_transcriptions")
