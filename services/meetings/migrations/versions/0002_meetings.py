"""meetings: meetings, participants, recordings, transcript segments and summaries.

Revision ID: meetings_0002
Revises: meetings_0001
Create Date: 2025-11-29
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "meetings_0002"
down_revision: str | Sequence[str] | None = "meetings_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _time(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _meeting_fk() -> sa.Column[str]:
    """Everything under a meeting goes with it."""
    return sa.Column(
        "meeting_id",
        sa.String(32),
        sa.ForeignKey("meetings_meetings.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "meetings_meetings",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("organizer", sa.String(200), nullable=False),
        # A project's meetings go with it (DeleteProject with force, DeleteClient with force).
        sa.Column(
            "project_id",
            sa.String(32),
            sa.ForeignKey("meetings_projects.id", ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        _time("start_time"),
        _time("end_time"),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("room_name", sa.String(64), nullable=False, unique=True),
        _time("actual_start_time", nullable=True),
        _time("actual_end_time", nullable=True),
        _time("create_time"),
        _time("update_time"),
    )
    op.create_index(
        "ix_meetings_meetings_organizer", "meetings_meetings", ["organizer", "start_time", "id"]
    )
    op.create_index(
        "ix_meetings_meetings_project", "meetings_meetings", ["project_id", "start_time", "id"]
    )
    op.create_index("ix_meetings_meetings_start", "meetings_meetings", ["start_time", "id"])

    op.create_table(
        "meetings_participants",
        sa.Column("id", sa.String(32), primary_key=True),
        _meeting_fk(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(100), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("user_subject", sa.String(200), nullable=False),
        sa.Column("role", sa.Integer(), nullable=False),
        sa.Column("presence", sa.Integer(), nullable=False),
        _time("join_time", nullable=True),
        _time("leave_time", nullable=True),
    )
    op.create_index(
        "ix_meetings_participants_meeting", "meetings_participants", ["meeting_id", "position"]
    )
    op.create_index(
        "ix_meetings_participants_user", "meetings_participants", ["user_subject", "meeting_id"]
    )
    op.create_index(
        "ix_meetings_participants_email", "meetings_participants", ["email_key", "meeting_id"]
    )

    op.create_table(
        "meetings_recordings",
        sa.Column("id", sa.String(32), primary_key=True),
        _meeting_fk(),
        sa.Column("uploader", sa.String(200), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("transcription", sa.String(200), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("meeting_offset_ms", sa.BigInteger(), nullable=False),
        sa.Column("summarize", sa.Boolean(), nullable=False),
        _time("create_time"),
        _time("transcribe_time", nullable=True),
    )
    op.create_index(
        "ix_meetings_recordings_meeting",
        "meetings_recordings",
        ["meeting_id", "meeting_offset_ms", "id"],
    )

    op.create_table(
        "meetings_transcript_segments",
        sa.Column(
            "recording_id",
            sa.String(32),
            sa.ForeignKey("meetings_recordings.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("meeting_id", sa.String(32), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=False),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("speaker", sa.String(100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_meetings_transcript_segments_meeting", "meetings_transcript_segments", ["meeting_id"]
    )

    op.create_table(
        "meetings_summaries",
        sa.Column(
            "meeting_id",
            sa.String(32),
            sa.ForeignKey("meetings_meetings.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("state", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        # Lists as JSON arrays (commitments: objects), parsed from the model's answer.
        sa.Column("key_points", sa.Text(), nullable=False),
        sa.Column("decisions", sa.Text(), nullable=False),
        sa.Column("commitments", sa.Text(), nullable=False),
        sa.Column("next_steps", sa.Text(), nullable=False),
        sa.Column("participants", sa.Text(), nullable=False),
        sa.Column("language", sa.String(35), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        # What the model answered, verbatim, so a bad parse can be looked into.
        sa.Column("raw_output", sa.Text(), nullable=False),
        _time("generate_time", nullable=True),
        _time("update_time"),
    )


def downgrade() -> None:
    op.drop_table("meetings_summaries")
    op.drop_table("meetings_transcript_segments")
    op.drop_table("meetings_recordings")
    op.drop_table("meetings_participants")
    op.drop_table("meetings_meetings")
