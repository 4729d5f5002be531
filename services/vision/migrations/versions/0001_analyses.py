"""vision: the history of analyses, each row owned by one caller.

Revision ID: vision_0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "vision_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("vision",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "vision_analyses",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("source", sa.Integer(), nullable=False),
        sa.Column("kinect_device", sa.String(100), nullable=False),
        sa.Column("content_type", sa.String(40), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        # The findings in the contract's encoding (a voka.vision.v1.Analysis), never the image.
        sa.Column("findings", sa.LargeBinary(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    # The history is listed per owner, newest first (id breaks ties), optionally by kind.
    op.create_index(
        "ix_vision_analyses_owner_time", "vision_analyses", ["owner", "create_time", "id"]
    )
    op.create_index("ix_vision_analyses_time", "vision_analyses", ["create_time", "id"])


def downgrade() -> None:
    op.drop_table("vision_analyses")
