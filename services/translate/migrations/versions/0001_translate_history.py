"""translate: history of translations (per owner) and usage rows for stats.

Revision ID: translate_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "translate_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("translate",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "translate_translations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("source_text", sa.Text(), nullable=False),
        sa.Column("translated_text", sa.Text(), nullable=False),
        sa.Column("source_language_code", sa.String(16), nullable=False),
        sa.Column("detected_language_code", sa.String(16), nullable=True),
        sa.Column("detected_confidence", sa.Float(), nullable=True),
        sa.Column("target_language_code", sa.String(16), nullable=False),
        sa.Column("engine", sa.Integer(), nullable=False),
        sa.Column("legs", sa.JSON(), nullable=False),
        sa.Column("character_count", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("origin", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_translate_translations_owner_time", "translate_translations", ["owner", "create_time"]
    )
    op.create_table(
        "translate_usage",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("source_language_code", sa.String(16), nullable=False),
        sa.Column("target_language_code", sa.String(16), nullable=False),
        sa.Column("engine", sa.Integer(), nullable=False),
        sa.Column("character_count", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("failed", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_translate_usage_owner_time", "translate_usage", ["owner", "create_time"])
    op.create_index("ix_translate_usage_time", "translate_usage", ["create_time"])


def downgrade() -> None:
    op.drop_table("translate_usage")
    op.drop_table("translate_translations")
